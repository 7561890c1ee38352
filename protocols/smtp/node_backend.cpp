// The SMTP server's backend on a node: lookups and deliveries as requests
// through the node's bridge (no thread waits), run as `system`.

#include <atomic>
#include <map>
#include <mutex>
#include <utility>

#include <nlohmann/json.hpp>

#include "actors/accounts.hpp"
#include "actors/handlers.hpp"
#include "actors/node.hpp"
#include "protocols/smtp/backend.hpp"
#include "store/item.hpp"

namespace mantissa::smtp {

namespace {

using nlohmann::json;

/// The interface the mail offering's delivery powerup is installed under.
constexpr const char* mail_delivery_interface = "mail_delivery";

const actors::caller& smtp_caller() {
  static const actors::caller who{actors::system_role, "smtp"};
  return who;
}

/// Collects the answers of the stores of one delivery; the last one
/// completes it.
struct fan_in {
  std::atomic<std::size_t> left;
  std::mutex mutex;
  bool ok = true;     // guarded by mutex
  std::string detail; // guarded by mutex
  std::function<void(delivery_status)> done;

  fan_in(std::size_t n, std::function<void(delivery_status)> d)
    : left(n), done(std::move(d)) {}

  void answer(const std::string& store, const actors::reply& r) {
    if (!r.ok) {
      std::lock_guard<std::mutex> guard{mutex};
      ok = false;
      if (!detail.empty())
        detail += "; ";
      detail += store + ": " + r.message;
    }
    if (left.fetch_sub(1) == 1) {
      delivery_status s;
      {
        std::lock_guard<std::mutex> guard{mutex};
        s.ok = ok;
        s.detail = detail;
      }
      done(std::move(s));
    }
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
            n.powerups(smtp_caller(), store, mail_delivery_interface,
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
    auto raw = store::base64_encode(message.raw);
    message.raw.clear();
    message.raw.shrink_to_fit();
    auto state = std::make_shared<fan_in>(by_store.size(), std::move(done));
    for (auto& [store, recipients] : by_store) {
      json args{{"delivery_id", message.delivery_id},
                {"raw", raw},
                {"sender", message.sender},
                {"recipients", std::move(recipients)}};
      node_.run(smtp_caller(), store, "mail.deliver", args.dump(),
                [state, store = store](const actors::reply& r) {
                  state->answer(store, r);
                });
    }
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
