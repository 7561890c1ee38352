#include "actors/internal/store_actor.hpp"

#include <memory>
#include <utility>

#include <caf/actor_system.hpp>

#include "actors/internal/runtime.hpp"
#include "actors/internal/store_actor/behavior.hpp"

namespace mantissa::actors::internal {

namespace {

using store_parts::item_cache;
using store_parts::store_actor;
using store_parts::store_behavior;

// Spawned with arguments (not a capturing lambda without any): CAF 0.17's
// init_fun_factory dereferences a null pointer for argument-less functions.
caf::behavior store_actor_fun(store_actor* self, runtime* rt,
                              std::string address, std::filesystem::path path,
                              caf::actor manager) {
  auto& st = self->state;
  st.rt = rt;
  st.address = std::move(address);
  st.path = std::move(path);
  st.manager = std::move(manager);
  st.cache = item_cache{rt->item_cache_size};
  if (st.address.find('@') != std::string::npos)
    st.owner_role = "user:" + st.address;
  auto impl = std::make_shared<store_behavior>(self);
  st.behavior_impl = impl;
  self->set_down_handler([impl, self](caf::down_msg& dm) {
    if (dm.source == self->state.moves.mover)
      impl->on_mover_gone();
  });
  return impl->make();
}

} // namespace

caf::actor spawn_store_actor(caf::actor_system& sys, runtime& rt,
                             std::string address, std::filesystem::path path,
                             const caf::actor& manager) {
  return sys.spawn(store_actor_fun, &rt, std::move(address), std::move(path),
                   manager);
}

} // namespace mantissa::actors::internal
