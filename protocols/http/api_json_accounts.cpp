// The JSON API's accounts: logging in and out, who the caller is, and the
// site's accounts (admin/users). The site store decides who may do what.

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "actors/accounts.hpp"
#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

response store_not_prepared(const std::string& address,
                            const actors::reply& r) {
  return error_response(500, actors::to_string(r.code),
                        "account " + address
                          + " was created, but its store could not be "
                            "prepared: "
                          + r.message);
}

void prepare_user_store(actors::node& n, const actors::caller& node_caller,
                        const json& acct, responder failed,
                        std::function<void()> ready) {
  auto address = acct.value("address", std::string{});
  n.create_store(address, [&n, node_caller, acct, address,
                           failed = std::move(failed),
                           ready = std::move(ready)](actors::reply r) {
    if (!r.ok)
      return failed(store_not_prepared(address, r));
    n.run(node_caller, address, "mantissa.write_account_copy", dump(acct),
          [address, failed, ready](actors::reply copied) {
            if (!copied.ok)
              return failed(store_not_prepared(address, copied));
            ready();
          });
  });
}

// -- session routes -----------------------------------------------------------

void on_login(call& c) {
  response err;
  auto cred = read_credentials(c.req, err);
  if (!cred)
    return c.done(std::move(err));
  // `system` logs in on the node's port only (actors/auth.hpp): here it is
  // an unknown user, in any letter case.
  c.node.auth().login(
    std::move(cred->username), std::move(cred->password), c.req.remote_address,
    [done = c.done, tls = c.ctx.tls || c.req.secure](actors::login_result r) {
      if (!r.ok) {
        done(error_response(status_for(r.code), actors::to_string(r.code),
                            r.message));
        return;
      }
      auto res = json_reply(
        200,
        {{"token", r.token}, {"address", r.who.address}, {"role", r.who.role}});
      res.headers.emplace_back("Set-Cookie",
                               session_cookie_header(r.token, tls));
      done(std::move(res));
    });
}

void on_logout(call& c) {
  // Idempotent: an unknown or expired token is simply gone already.
  if (c.who.session)
    c.node.auth().logout(c.who.token);
  auto res = json_reply(200, {{"ok", true}});
  res.headers.emplace_back(
    "Set-Cookie", session_cookie_header({}, c.ctx.tls || c.req.secure));
  c.done(std::move(res));
}

void on_me(call& c) {
  if (!c.who.session)
    return c.done(error_response(401, "unauthorized", "not logged in"));
  c.done(json_reply(
    200, {{"address", c.who.session->address}, {"role", c.who.session->role}}));
}

void on_admin_users(call& c) {
  if (c.method == "GET")
    return c.node.run(c.caller, "site", "mantissa.list_accounts", "{}",
                      [done = c.done](actors::reply r) {
                        if (!r.ok)
                          return done(error_from(r));
                        done(json_response(200, "{\"users\":" + r.body + "}"));
                      });
  response err;
  auto cred = read_credentials(c.req, err);
  if (!cred)
    return c.done(std::move(err));
  auto args = dump(
    json{{"username", cred->username}, {"password", cred->password}});
  if (c.node.in_cluster()) {
    // The seed's site store holds the accounts and places the new store on
    // a node (docs/cluster.md): it checks that the caller administers the
    // site, then the cluster adds the account as the system.
    return c.node.run(
      c.caller, "site:seed", "mantissa.check_admin", "{}",
      [&n = c.node, args, done = c.done](actors::reply r) {
        if (!r.ok)
          return done(error_from(r));
        n.cluster_command("add_user", args, [done](actors::reply added) {
          if (!added.ok)
            return done(error_from(added));
          auto out = json::parse(added.body, nullptr, false);
          if (!out.is_object())
            return done(error_response(500, "internal",
                                       "malformed reply to add_user"));
          out["disabled"] = false;
          done(json_reply(201, std::move(out)));
        });
      });
  }
  // The site store checks that the caller administers it (owner-only
  // handler) before anything else happens.
  c.node.run(c.caller, "site", "mantissa.add_account", args,
             [&n = c.node, done = c.done](actors::reply r) {
               if (!r.ok)
                 return done(error_from(r));
               auto acct = json::parse(r.body, nullptr, false);
               if (!acct.is_object() || !acct.contains("address"))
                 return done(error_response(500, "internal",
                                            "malformed reply to add_account"));
               auto address = acct.value("address", std::string{});
               auto created = acct.value("created", std::int64_t{0});
               prepare_user_store(
                 n, {actors::system_role, "http-admin"}, acct, done,
                 [done, address, created] {
                   done(json_reply(201, {{"address", address},
                                         {"created", created},
                                         {"disabled", false}}));
                 });
             });
}

/// POST /api/admin/users/{address}/disable, /enable, /password: the site
/// store's handlers `mantissa.set_disabled` / `mantissa.set_password`
/// change the account (refusing non-admins), then the node writes the
/// user store's copy and, for a disable or a new password, ends the
/// account's sessions on this node.
void on_admin_user(call& c) {
  const auto& target = c.seg[2];
  const auto& action = c.seg[3];
  auto addr = actors::parse_address(target);
  if (!addr)
    return c.done(bad_request("invalid_name", addr.error_value().message));
  if (addr->is_offering())
    return c.done(bad_request("invalid_name",
                              "'" + target.substr(0, 64)
                                + "' is an offering, not an account address "
                                  "user@domain"));
  auto address = actors::to_string(*addr);
  json args{{"address", address}};
  std::string handler;
  response err;
  if (action == "password") {
    auto body = body_object(c.req, err);
    if (!body || !only_members(*body, {"password"}, err))
      return c.done(std::move(err));
    auto password = string_member(*body, "password", err);
    if (!password)
      return c.done(std::move(err));
    if (password->empty())
      return c.done(bad_request("invalid_value",
                                "the member 'password' must not be empty"));
    args["password"] = std::move(*password);
    handler = "mantissa.set_password";
  } else {
    // No body, or an empty object.
    if (!c.req.body.empty()) {
      auto body = body_object(c.req, err);
      if (!body || !only_members(*body, {}, err))
        return c.done(std::move(err));
    }
    args["disabled"] = action == "disable";
    handler = "mantissa.set_disabled";
  }
  c.node.run(
    c.caller, accounts_site(c), handler, dump(args),
    [&n = c.node, done = c.done, action, address](actors::reply r) {
      if (!r.ok)
        return done(error_from(r));
      auto acct = json::parse(r.body, nullptr, false);
      if (!acct.is_object() || !acct.contains("disabled")
          || !acct["disabled"].is_boolean())
        return done(
          error_response(500, "internal", "malformed reply to " + action));
      bool disabled = acct["disabled"].get<bool>();
      actors::caller node_caller{actors::system_role, "http-admin"};
      n.run(node_caller, address, "mantissa.write_account_copy", dump(acct),
            [&n, done, action, address, disabled](actors::reply copied) {
              if (!copied.ok)
                return done(error_response(
                  500, actors::to_string(copied.code),
                  "account " + address + ": " + action
                    + " done in the site store, but the copy in its store "
                      "could not be written: "
                    + copied.message));
              if (action == "enable")
                return done(json_reply(200, {{"address", address},
                                             {"disabled", disabled},
                                             {"sessions_ended", 0}}));
              // A disabled account, or one whose password was reset, must
              // log in again (with the new password): its sessions end now,
              // on every node of the cluster and on the port.
              n.end_sessions(address, [done, address,
                                       disabled](actors::reply ended) {
                auto e = json::parse(ended.body, nullptr, false);
                json out{{"address", address},
                         {"disabled", disabled},
                         {"sessions_ended",
                          e.is_object() ? e.value("ended", 0) : 0}};
                if (!ended.ok)
                  out["warning"] = "sessions on other nodes may not have "
                                   "ended: " + ended.message;
                else if (e.is_object() && e.contains("unreached")
                         && !e["unreached"].empty())
                  out["unreached"] = e["unreached"];
                done(json_reply(200, out));
              });
            });
    });
}

} // namespace mantissa::http::json_api
