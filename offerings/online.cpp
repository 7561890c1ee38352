// Online administration: each operation a short chain of store handlers
// (offerings/admin_handlers.cpp), the first one run as the caller in the
// site store, which refuses anyone but the system and the site's admins.

#include "offerings/online.hpp"

#include <memory>
#include <utility>

#include "actors/accounts.hpp"
#include "wire/protocol.hpp"

namespace mantissa::offerings {

namespace {

using nlohmann::json;
using actors::caller;
using actors::error_code;
using actors::reply;
using actors::reply_handler;

using next_fn = std::function<void(json)>;

/// One operation in progress: the node, who asked and where the answer
/// goes. Shared by the steps' continuations.
struct operation {
  node_access node;
  caller who;
  reply_handler done;

  caller system() const { return caller{actors::system_role, who.request_id}; }

  void fail(error_code code, std::string message) const {
    done(reply{false, {}, code, std::move(message)});
  }
  void answer(const json& j) const { done(reply{true, j.dump(), {}, {}}); }

  /// Runs `handler` in `address` as `as`; its JSON answer goes to `next`,
  /// its error (with `context` before its message, if any) to `done`.
  void step(const caller& as, const std::string& address,
            const std::string& handler, const json& args, next_fn next,
            std::string context = {}) const {
    node.run(as, address, handler, args,
             [to = done, next = std::move(next), handler,
              context = std::move(context)](reply r) {
               if (!r.ok) {
                 if (!context.empty())
                   r.message = context + r.message;
                 return to(std::move(r));
               }
               auto j = json::parse(r.body, nullptr, false);
               if (j.is_discarded())
                 return to(reply{false, {}, error_code::internal,
                                 "malformed answer of " + handler});
               next(std::move(j));
             });
  }
};

using op_ptr = std::shared_ptr<const operation>;

/// A non-empty string member of `args`, or an `invalid_value` answer.
bool text(const op_ptr& op, const json& args, const char* key,
          std::string& out) {
  auto i = args.is_object() ? args.find(key) : args.end();
  if (i != args.end() && i->is_string() && !i->get<std::string>().empty()) {
    out = i->get<std::string>();
    return true;
  }
  op->fail(error_code::invalid_value,
           std::string{key} + ": a non-empty string is needed");
  return false;
}

void install(const op_ptr& op, const json& args) {
  std::string name;
  if (!text(op, args, "name", name))
    return;
  op->step(op->who, op->node.site, "mantissa.install_offering",
           {{"name", name}}, [op, name](json rec) {
             auto app = op->node.cluster ? name + ":seed" : name;
             auto context = "offering '" + name
                            + "' is recorded as installed, but its app store "
                              "could not be prepared: ";
             auto setup = [op, name, app, rec, context](json) {
               op->step(op->system(), app, "mantissa.setup_app_store",
                        {{"offering", name}},
                        [op, rec](json) {
                          op->answer({{"name", rec["name"]},
                                      {"version", rec["version"]},
                                      {"products", rec["products"]}});
                        },
                        context);
             };
             op->node.create(app, [op, app, rec, setup, context](reply made) {
               if (!made.ok)
                 return op->fail(made.code, context + made.message);
               op->step(op->system(), app, "mantissa.write_account_copy",
                        rec["account"], setup, context);
             });
           });
}

/// `give`: the site checks the account and the product, the user store
/// installs it, the site records the grant.
void give(const op_ptr& op, const json& args) {
  std::string address;
  std::string product;
  if (!text(op, args, "address", address) || !text(op, args, "product", product))
    return;
  op->step(
    op->who, op->node.site, "mantissa.product_for",
    {{"address", address}, {"product", product}}, [op](json found) {
      auto user = found.value("address", std::string{});
      op->step(op->system(), user, "mantissa.install_product",
               {{"product", found["product"]}}, [op, user](json rec) {
                 auto given = rec.value("product", std::string{});
                 op->step(op->system(), op->node.site, "mantissa.record_grant",
                          {{"address", user}, {"product", given}},
                          [op, user, rec](json) {
                            op->answer({{"address", user},
                                        {"product", rec["product"]},
                                        {"powerups", rec["powerups"]}});
                          });
               });
    });
}

/// `take`: the site checks the caller, the user store removes the
/// product, the site forgets the grant.
void take(const op_ptr& op, const json& args) {
  std::string address;
  std::string product;
  if (!text(op, args, "address", address) || !text(op, args, "product", product))
    return;
  auto addr = actors::parse_address(address);
  if (!addr || addr->is_offering())
    return op->fail(error_code::invalid_value,
                    "address: an address user@domain is needed");
  auto user = actors::to_string(*addr);
  op->step(op->who, op->node.site, "mantissa.check_admin", json::object(),
           [op, user, product](json) {
             op->step(op->system(), user, "mantissa.uninstall_product",
                      {{"product", product}}, [op, user, product](json) {
                        op->step(op->system(), op->node.site,
                                 "mantissa.record_grant",
                                 {{"address", user},
                                  {"product", product},
                                  {"given", false}},
                                 [op, user, product](json) {
                                   op->answer(
                                     {{"address", user}, {"product", product}});
                                 });
                      });
           });
}

/// Gives `products[i...]` to `address` one after the other, then answers
/// `out` with the products.
void give_all(const op_ptr& op, std::string address, json products,
              std::size_t i, json out) {
  if (i >= products.size()) {
    out["products"] = std::move(products);
    return op->answer(out);
  }
  auto product = products[i];
  op->step(op->who, op->node.site, "mantissa.product_for",
           {{"address", address}, {"product", product}},
           [op, address, products, i, out](json found) {
             op->step(op->system(), address, "mantissa.install_product",
                      {{"product", found["product"]}},
                      [op, address, products, i, out](json) {
                        op->step(op->system(), op->node.site,
                                 "mantissa.record_grant",
                                 {{"address", address},
                                  {"product", products[i]}},
                                 [op, address, products, i, out](json) {
                                   give_all(op, address, products, i + 1, out);
                                 });
                      },
                      "account " + address + " was created, but ");
           });
}

/// The account (through the cluster, which places its store, or here:
/// the site store's record, then the store with the account's copy).
void make_account(const op_ptr& op, json args, next_fn next) {
  if (op->node.cluster_add_user) {
    args["role"] = op->who.role;
    return op->node.cluster_add_user(args, [op, next](reply r) {
      auto j = json::parse(r.body, nullptr, false);
      if (!r.ok || !j.is_object())
        return op->done(std::move(r));
      next(std::move(j));
    });
  }
  if (!args.value("node", std::string{}).empty())
    return op->fail(error_code::invalid_value,
                    "node: this node is not part of a cluster");
  args.erase("node");
  op->step(op->who, op->node.site, "mantissa.add_account", args,
           [op, next](json acct) {
             auto address = acct.value("address", std::string{});
             auto context = "account " + address
                            + " was created, but its store could not be "
                              "prepared: ";
             op->node.create(address, [op, acct, address, next,
                                       context](reply made) {
               if (!made.ok)
                 return op->fail(made.code, context + made.message);
               op->step(op->system(), address, "mantissa.write_account_copy",
                        acct,
                        [address, next](json) {
                          next({{"address", address}, {"node", ""}});
                        },
                        context);
             });
           });
}

/// `add_user`: the products are checked first (an unknown one creates
/// nothing), then the account is made and given them.
void add_user(const op_ptr& op, json args) {
  if (!args.is_object())
    return op->fail(error_code::invalid_value, "add_user takes an object");
  auto products = args.value("products", json::array());
  args.erase("products");
  if (!products.is_array())
    return op->fail(error_code::invalid_value,
                    "products: an array of names is needed");
  op->step(op->who, op->node.site, "mantissa.list_offerings", json::object(),
           [op, args, products](json listed) {
             for (auto& p : products) {
               bool known = false;
               for (auto& k : listed.value("products", json::array()))
                 known = known || k.value("name", json{}) == p;
               if (!known)
                 return op->fail(error_code::no_such_item,
                                 "no product named " + p.dump()
                                   + "; nothing changed");
             }
             make_account(op, args, [op, products](json made) {
               auto address = made.value("address", std::string{});
               give_all(op, address, products, 0, std::move(made));
             });
           });
}

} // namespace

node_access access_of(actors::node& n) {
  node_access a;
  auto* node = &n;
  a.run = [node](const caller& who, const std::string& address,
                 const std::string& handler, const json& args,
                 reply_handler done) {
    node->run(who, address, handler, args.dump(), std::move(done));
  };
  a.create = [node](const std::string& address, reply_handler done) {
    node->create_store(address, std::move(done));
  };
  if (n.in_cluster()) {
    a.site = "site:seed";
    a.cluster = true;
    a.cluster_add_user = [node](const json& args, reply_handler done) {
      node->cluster_command("add_user", args.dump(), std::move(done));
    };
  }
  return a;
}

void run_admin(const node_access& node, const caller& who,
               const std::string& op, const json& args, reply_handler done) {
  auto o = std::make_shared<const operation>(operation{node, who, std::move(done)});
  if (op == "install")
    return install(o, args);
  if (op == "uninstall" || op == "create_product") {
    std::string name;
    if (!text(o, args, "name", name))
      return;
    return o->step(o->who, node.site,
                   op == "uninstall" ? "mantissa.uninstall_offering"
                                     : "mantissa.create_product",
                   args, [o](json out) { o->answer(out); });
  }
  if (op == "give")
    return give(o, args);
  if (op == "take")
    return take(o, args);
  if (op == "add_user")
    return add_user(o, args);
  o->fail(error_code::no_such_handler, "no administrative operation '"
                                         + op.substr(0, 64) + "'");
}

} // namespace mantissa::offerings
