#include "actors/internal/backup_request.hpp"
#include "actors/internal/move.hpp"

#include <caf/actor.hpp>
#include <caf/event_based_actor.hpp>

#include <nlohmann/json.hpp>

#include "actors/backup.hpp"
#include "wire/errors.hpp"
#include "wire/protocol.hpp"

namespace mantissa::actors::internal {

namespace {

bool receiver_down(const caf::error& err) {
  return err.category() == caf::atom("system")
         && static_cast<caf::sec>(err.code()) == caf::sec::request_receiver_down;
}

reply to_reply(const caf::error& err) {
  return {false, {}, code_of(err), error_message(err)};
}

} // namespace

void request_backup(caf::event_based_actor* self, const caf::actor& manager,
                    const std::string& address, const std::string& dest,
                    const std::function<void(reply)>& done, int retries) {
  self->request(manager, std::chrono::seconds(60), store_atom::value, address)
    .then(
      [self, manager, address, dest, done, retries](caf::actor& store) {
        self
          ->request(store, backup_timeout, backup_atom::value,
                    caller{system_role, "backup"}, dest)
          .then(
            [done](std::string& body) {
              done(reply{true, std::move(body), {}, {}});
            },
            [self, manager, address, dest, done, retries](caf::error& err) {
              if (retries > 0 && receiver_down(err)) {
                request_backup(self, manager, address, dest, done,
                               retries - 1);
                return;
              }
              done(to_reply(err));
            });
      },
      [done](caf::error& err) { done(to_reply(err)); });
}

reply list_stores(const std::filesystem::path& data_dir,
                  const std::string& node_name) {
  auto files = list_store_files(data_dir);
  if (!files)
    return {false, {}, error_code::io_error, files.error_value().message};
  auto stores = nlohmann::json::array();
  for (auto& f : *files) {
    // A copy of a move that is not confirmed yet is not this node's.
    std::error_code ec;
    if (!std::filesystem::exists(moving_in_marker(f.path), ec))
      stores.push_back(f.address);
  }
  nlohmann::json out{{"node", node_name}, {"stores", std::move(stores)}};
  return {true, out.dump(), {}, {}};
}

} // namespace mantissa::actors::internal
