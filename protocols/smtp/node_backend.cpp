// The SMTP server's backend on a node: lookups and deliveries as requests
// through the node's bridge (no thread waits), run as `system`.

#include <atomic>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/handlers.hpp"
#include "actors/node.hpp"
#include "offerings/mail.hpp"
#include "protocols/smtp/backend.hpp"
#include "store/item.hpp"

namespace mantissa::smtp {

namespace {

using nlohmann::json;

/// Where a message goes in a recipient's store: the names the mail
/// offering owns (its delivery powerup's interface and deliver handler).
const std::string& delivery_interface() {
  static const std::string name{offerings::mail_delivery_interface};
  return name;
}
const std::string& deliver_handler() {
  static const std::string name{offerings::mail::deliver_handler};
  return name;
}

const actors::caller& smtp_caller() {
  static const actors::caller who{actors::system_role, "smtp"};
  return who;
}

/// Stores at a time that receive one message: those of this node share
/// its bytes; each one on another node gets its own serialized copy while
/// its delivery is in flight.
constexpr std::size_t parallel_stores = 4;

/// Whether a store's refusal will stay a refusal when the client retries.
bool is_permanent(actors::error_code code) {
  using actors::error_code;
  switch (code) {
    case error_code::invalid_value:
    case error_code::invalid_query:
    case error_code::no_such_item:
    case error_code::no_such_type:
    case error_code::no_such_handler:
    case error_code::forbidden:
      return true;
    default:
      return false;
  }
}

/// One message on its way to its recipients' stores, `parallel_stores` at
/// a time; the last answer completes it.
struct fan_out : std::enable_shared_from_this<fan_out> {
  actors::node& node;
  actors::shared_bytes raw;
  std::vector<std::pair<std::string, std::string>> todo;  // store, args
  std::size_t next = 0;
  std::size_t answered = 0;
  std::mutex mutex;
  bool ok = true;          // guarded by mutex
  bool permanent = false;  // guarded by mutex: some store refused for good
  std::string detail;      // guarded by mutex
  std::function<void(delivery_status)> done;

  fan_out(actors::node& n, actors::shared_bytes bytes,
          std::function<void(delivery_status)> d)
    : node(n), raw(std::move(bytes)), done(std::move(d)) {}

  void start() {
    for (std::size_t i = 0; i < parallel_stores; ++i)
      send_next();
  }

  void send_next() {
    std::pair<std::string, std::string> job;
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (next == todo.size())
        return;
      job = todo[next++];
    }
    node.run(smtp_caller(), job.first, deliver_handler(), job.second, raw,
             [self = shared_from_this(), store = job.first](
               const actors::reply& r) { self->answer(store, r); });
  }

  void answer(const std::string& store, const actors::reply& r) {
    bool last = false;
    {
      std::lock_guard<std::mutex> guard{mutex};
      if (!r.ok) {
        ok = false;
        permanent = permanent || is_permanent(r.code);
        if (!detail.empty())
          detail += "; ";
        detail += store + ": " + r.message;
      }
      last = ++answered == todo.size();
    }
    if (!last) {
      send_next();
      return;
    }
    delivery_status s;
    {
      std::lock_guard<std::mutex> guard{mutex};
      s.ok = ok;
      s.detail = detail;
      // Retrying helps only if no store refused for good; a message some
      // stores took is taken again without a copy (the delivery id).
      s.permanent = permanent;
    }
    raw.data.reset();
    auto d = std::move(done);
    d(std::move(s));
  }
};

class node_backend final : public backend {
 public:
  explicit node_backend(actors::node& n) : node_(n) {}

  void check_recipient(const std::string& address,
                       std::function<void(recipient_status)> done) override {
    using result = recipient_status::result;
    auto& n = node_;
    n.run(smtp_caller(), "site", "smtp.recipient",
          json{{"address", address}}.dump(),
          [&n, done = std::move(done)](const actors::reply& r) mutable {
            if (!r.ok) {
              done({result::unavailable, {}});
              return;
            }
            auto found = json::parse(r.body, nullptr, false);
            std::string store;
            if (found.is_object() && found.contains("store")
                && found["store"].is_string())
              store = found["store"].get<std::string>();
            if (store.empty()) {
              done({result::unknown, {}});
              return;
            }
            n.powerups(smtp_caller(), store, delivery_interface(),
                       [store, done = std::move(done)](const actors::reply& p) {
                         if (!p.ok) {
                           done({p.code == actors::error_code::no_such_store
                                   ? result::unknown
                                   : result::unavailable,
                                 {}});
                           return;
                         }
                         auto list = json::parse(p.body, nullptr, false);
                         if (list.is_array() && !list.empty())
                           done({result::accepted, store});
                         else
                           done({result::unknown, {}});
                       });
          });
  }

  void authenticate(const std::string& username, const std::string& password,
                    const std::string& client,
                    std::function<void(auth_status)> done) override {
    auto& auth = node_.auth();
    auth.login(username, password, client,
               [&auth, done = std::move(done)](const actors::login_result& r) {
                 using result = auth_status::result;
                 if (r.ok) {
                   // SMTP needs no session: end the one the login opened.
                   auth.logout(r.token);
                   done({result::ok, r.who.address});
                 } else if (r.code == actors::error_code::unauthorized) {
                   done({result::invalid, {}});
                 } else {
                   done({result::unavailable, {}});
                 }
               },
               actors::login_channel::mail);
  }

  void deliver(delivery message,
               std::function<void(delivery_status)> done) override {
    // One call per store, with the envelope recipients that map to it.
    std::map<std::string, json> by_store;
    for (auto& r : message.recipients) {
      auto& list = by_store[r.store];
      if (list.is_null())
        list = json::array();
      list.push_back(r.address);
    }
    if (by_store.empty()) {
      done({false, "no recipients"});
      return;
    }
    // The bytes are moved, not copied, into one shared buffer that every
    // local store reads.
    auto bytes = std::make_shared<const std::string>(std::move(message.raw));
    auto out = std::make_shared<fan_out>(node_, actors::shared_bytes{bytes},
                                         std::move(done));
    bytes.reset();
    for (auto& [store, recipients] : by_store) {
      json args{{"delivery_id", message.delivery_id},
                {"sender", message.sender},
                {"recipients", std::move(recipients)}};
      out->todo.emplace_back(store, args.dump());
    }
    out->start();
  }

 private:
  actors::node& node_;
};

} // namespace

std::unique_ptr<backend> make_node_backend(actors::node& n) {
  return std::make_unique<node_backend>(n);
}

store::result<void> register_handlers(actors::handler_registry& handlers) {
  return handlers.add(
    "smtp.recipient",
    [](store::store& site, const json& args,
       const actors::caller& who) -> store::result<json> {
      if (who.role != actors::system_role)
        return store::error{store::errc::forbidden, "system role only"};
      json out{{"store", ""}};
      if (!args.is_object() || !args.contains("address")
          || !args["address"].is_string()) {
        out["reason"] = "no address given";
        return out;
      }
      auto addr = actors::parse_address(args["address"].get<std::string>());
      if (!addr || addr->is_offering()) {
        out["reason"] = "not a valid address";
        return out;
      }
      auto acct = actors::find_account_by_login(site, *addr);
      if (!acct) {
        if (acct.code() != store::errc::no_such_item)
          return std::move(acct).error_value();
        out["reason"] = "no such account";
        return out;
      }
      if (acct->disabled) {
        out["reason"] = "account disabled";
        return out;
      }
      out["store"] = actors::to_string(acct->addr);
      return out;
    });
}

} // namespace mantissa::smtp
