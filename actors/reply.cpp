#include "actors/reply.hpp"

#include <future>
#include <memory>
#include <utility>

namespace mantissa::actors {

reply wait_for(const std::function<void(reply_handler)>& f) {
  auto p = std::make_shared<std::promise<reply>>();
  auto fut = p->get_future();
  f([p](reply r) { p->set_value(std::move(r)); });
  return fut.get();
}

} // namespace mantissa::actors
