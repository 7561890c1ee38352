// A plugin built for this offering API version: offering `hello`, with one
// item type, an installable powerup, a product, a handler and a route.

#include "offerings/offering.hpp"
#include "store/typed.hpp"

namespace {

using namespace mantissa;

struct greeting {
  store::item_id id = 0;
  std::string text;
};

struct greeter {
  store::item_id id = 0;
  std::string style = "plain";
};

const store::item_type<greeting>& greeting_type() {
  static const auto type
    = store::item_type<greeting>{"hello.greeting", 1}.attribute(
      "text", &greeting::text);
  return type;
}

const store::item_type<greeter>& greeter_type() {
  static const auto type = store::item_type<greeter>{"hello.greeter", 1}
                             .attribute("style", &greeter::style)
                             .powerup("hello");
  return type;
}

offerings::offering make_hello() {
  offerings::offering o;
  o.name = "hello";
  o.description = "Says hello";
  o.version = "0.1";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    MANTISSA_TRY(types.add(greeting_type().decl()));
    MANTISSA_TRY(types.add(greeter_type().decl()));
    return {};
  };
  o.installable_powerups = {{"greeter", "Greets", "hello.greeter", {}}};
  o.shares = {{"hello.greeting", {"read", "write", "delete"}}};
  o.handlers = {{"hello.greet",
                 [](store::store& s, const nlohmann::json& args,
                    const actors::caller&) -> store::result<nlohmann::json> {
                   greeting g;
                   g.text
                     = "hello, " + args.value("name", std::string{"world"});
                   MANTISSA_TRY(greeting_type().insert(s, g));
                   return greeting_type().to_json(g);
                 }}};
  o.routes = {{"POST", "/hello/{name}", "hello.greet"}};
  o.products = {{"hello", {"greeter"}}};
  return o;
}

} // namespace

MANTISSA_EXPORT_OFFERING(make_hello)
