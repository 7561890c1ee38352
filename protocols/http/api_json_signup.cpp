// The JSON API's signup (docs/accounts.md, "Signup"; docs/http-api.md):
// whether a signup is open, signing up, invitation tickets, and the
// administrators' opening and closing of signups. The site store's
// handlers (offerings/signup_handlers.hpp) decide; this file adds the rate
// limit of free signups, prepares the new account's store in the running
// node and logs the new user in.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "log/log.hpp"
#include "protocols/http/internal/api_json.hpp"

namespace mantissa::http::json_api {

namespace {

const actors::caller signup_node{actors::system_role, "http-signup"};

/// The HTTP status of a refusal of `mantissa.sign_up`.
int refusal_status(const std::string& code) {
  if (code == "no_such_ticket")
    return 404;
  if (code == "ticket_used" || code == "ticket_expired")
    return 410;
  if (code == "name_taken")
    return 409;
  return 403; // signup_closed
}

/// One line on stderr per signup, made or refused (never the password or
/// the ticket).
void log_signup(bool ok, const std::string& client, const std::string& kind,
                const std::string& what) {
  log::write(ok ? log::level::info : log::level::warn, "signup", what,
             {{"peer", client.substr(0, 64)}, {"kind", kind}});
}

/// Answers a refused or failed signup, with its log line.
void refuse(const responder& done, const std::string& client,
            const std::string& kind, response r) {
  auto j = json::parse(r.body, nullptr, false);
  std::string code = j.is_object() && j.contains("error")
                       ? j["error"].value("code", "")
                       : "";
  log_signup(false, client, kind, "refused: " + code);
  done(std::move(r));
}

struct signup_job {
  actors::node& node;
  responder done;
  std::string client;
  std::string kind; // "free" or "ticket"
  std::string password;
  bool tls = false;
};

/// The last step: logs the new account in, like POST /api/login.
void log_in(std::shared_ptr<signup_job> job, std::string address) {
  auto& auth = job->node.auth();
  auth.login(address, job->password, job->client,
             [job, address](actors::login_result r) {
               log_signup(true, job->client, job->kind,
                          "account " + address + " made");
               if (!r.ok)
                 return job->done(json_reply(
                   201, {{"address", address}, {"logged_in", false}}));
               auto res = json_reply(201, {{"address", address},
                                           {"role", r.who.role},
                                           {"token", r.token},
                                           {"logged_in", true}});
               res.headers.emplace_back(
                 "Set-Cookie", session_cookie_header(r.token, job->tls));
               job->done(std::move(res));
             });
}

/// After the site store made the account: its store, its copy of the
/// account and the signup's product, through the store actors as the node.
void prepare_store(std::shared_ptr<signup_job> job, json made) {
  auto acct = made["account"];
  auto product = made["product"];
  auto address = acct.value("address", std::string{});
  responder failed = [job](response r) {
    refuse(job->done, job->client, job->kind, std::move(r));
  };
  prepare_user_store(
    job->node, signup_node, acct, failed, [job, product, address, failed] {
      job->node.run(signup_node, address, "mantissa.install_product",
                    dump(json{{"product", product}}),
                    [job, address, failed](actors::reply installed) {
                      if (!installed.ok)
                        return failed(store_not_prepared(address, installed));
                      log_in(job, address);
                    });
    });
}

/// POST /api/signup `{"username","password","ticket"?}`.
void sign_up(call& c) {
  response err;
  auto body = body_object(c.req, err);
  if (!body || !only_members(*body, {"username", "password", "ticket"}, err))
    return c.done(std::move(err));
  auto username = string_member(*body, "username", err);
  auto password = username ? string_member(*body, "password", err)
                           : std::nullopt;
  // Absent: the free signup; present, it must be a string.
  auto ticket = password && body->contains("ticket")
                  ? string_member(*body, "ticket", err)
                  : std::nullopt;
  if (!username || !password || !err.body.empty())
    return c.done(std::move(err));
  auto job = std::make_shared<signup_job>(signup_job{
    c.node, c.done, c.req.remote_address, ticket ? "ticket" : "free",
    *password, c.ctx.tls || c.req.secure});
  if (c.node.in_cluster())
    return refuse(c.done, job->client, job->kind,
                  error_response(501, "not_supported",
                                 "signup is not available on a cluster node "
                                 "yet"));
  json args{{"username", *username}, {"password", *password}};
  if (ticket) {
    args["ticket"] = *ticket;
  } else {
    // Free signups: a few per client address, then a wait (the limiter
    // forgets a client an hour after its last signup).
    auto& limiter = *c.ctx.signup_limiter;
    auto now = actors::rate_limiter::clock::now();
    auto wait = limiter.delay(job->client, now);
    if (wait.count() > 0) {
      auto res = error_response(429, "rate_limited",
                                "too many signups from this address; try "
                                "again later");
      res.headers.emplace_back(
        "Retry-After",
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                         signup_rate_options().forget_after)
                         .count()));
      return refuse(c.done, job->client, job->kind, std::move(res));
    }
    limiter.failure(job->client, now);
  }
  c.node.run(signup_node, "site", "mantissa.sign_up", dump(args),
             [job](actors::reply r) {
               if (!r.ok)
                 return refuse(job->done, job->client, job->kind,
                               error_from(r));
               auto made = json::parse(r.body, nullptr, false);
               if (made.is_object() && made.contains("refused"))
                 return refuse(
                   job->done, job->client, job->kind,
                   error_response(
                     refusal_status(made.value("refused", "")),
                     made.value("refused", ""), made.value("message", "")));
               if (!made.is_object() || !made.contains("account")
                   || !made.contains("product"))
                 return refuse(job->done, job->client, job->kind,
                               error_response(500, "internal",
                                              "malformed reply to sign_up"));
               prepare_store(job, std::move(made));
             });
}

} // namespace

/// GET /api/signup: `{"open","free"}` for anyone (the landing and signup
/// pages); POST /api/signup: signing up.
void on_signup(call& c) {
  if (c.method == "GET")
    return c.node.run(signup_node, accounts_site(c), "mantissa.signup_status",
                      "{}", relay(c.done));
  sign_up(c);
}

/// GET /api/admin/signups: every signup; POST: opens one. The site store
/// refuses non-admins (404).
void on_admin_signups(call& c) {
  if (c.method == "GET")
    return c.node.run(c.caller, accounts_site(c), "mantissa.list_signups",
                      "{}", relay(c.done));
  response err;
  auto body = body_object(c.req, err);
  if (!body)
    return c.done(std::move(err));
  c.node.run(c.caller, accounts_site(c), "mantissa.open_signup", dump(*body),
             relay(c.done, 201));
}

/// POST /api/admin/signups/{id}/close.
void on_admin_signup(call& c) {
  auto id = parse_id(c.seg[2]);
  if (!id)
    return c.done(bad_request("invalid_value", "a signup id is a number"));
  c.node.run(c.caller, accounts_site(c), "mantissa.close_signup",
             dump(json{{"id", *id}}), relay(c.done));
}

/// POST /api/signups/{id}/tickets `{"expires_in"?}`: an invitation, for a
/// logged-in caller the signup lets invite (admins, members of its
/// inviters group); everyone else gets 404.
void on_signup_tickets(call& c) {
  if (!c.who.session)
    return c.done(error_response(401, "unauthorized", "not logged in"));
  auto id = parse_id(c.seg[1]);
  if (!id)
    return c.done(bad_request("invalid_value", "a signup id is a number"));
  json args{{"signup", *id}, {"by", c.who.role()}};
  if (!c.req.body.empty()) {
    response err;
    auto body = body_object(c.req, err);
    if (!body || !only_members(*body, {"expires_in"}, err))
      return c.done(std::move(err));
    if (body->contains("expires_in"))
      args["expires_in"] = (*body)["expires_in"];
  }
  c.node.run(signup_node, accounts_site(c), "mantissa.create_ticket",
             dump(args), relay(c.done, 201));
}

} // namespace mantissa::http::json_api
