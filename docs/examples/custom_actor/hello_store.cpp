// hello_store: a custom program that talks to a running Mantissa node.
//
//   mantissa start --data DIR --listen 127.0.0.1:4242
//   hello_store --host 127.0.0.1 --port 4242 --password-file DIR/node.key
//               [--user system] [--store site]
//               [--type mantissa.setting --item '{"key":..,"value":..}']
//
// Connects to the node's network port, logs in (as `system` with the node
// key by default, or as an account with its password), looks the store up
// by its address, writes an item (a setting by default: the node's own
// records, which only `system` writes; an account writes its offerings'
// types, e.g. `--type notes.note --item '{"title":"hello"}'`), reads it
// back by id and prints it.
// Exits 0 on success, 1 with a message on stderr on any failure.

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <mantissa/client.hpp>

namespace {

struct arguments {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string store = "site";
  std::string user = "system";
  std::string password_file;
  std::string type = "mantissa.setting";
  std::string item = R"({"key":"example.greeting","value":"hello","secret":false})";
};

bool parse(int argc, char** argv, arguments& args) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (i + 1 >= argc)
      return false;
    std::string value = argv[++i];
    if (flag == "--host") {
      args.host = value;
    } else if (flag == "--port") {
      auto n = std::strtoul(value.c_str(), nullptr, 10);
      if (n == 0 || n > 65535)
        return false;
      args.port = static_cast<std::uint16_t>(n);
    } else if (flag == "--store") {
      args.store = value;
    } else if (flag == "--user") {
      args.user = value;
    } else if (flag == "--password-file") {
      args.password_file = value;
    } else if (flag == "--type") {
      args.type = value;
    } else if (flag == "--item") {
      args.item = value;
    } else {
      return false;
    }
  }
  return args.port != 0 && !args.password_file.empty();
}

int fail(const std::string& what, const caf::error& err) {
  std::cerr << "hello_store: " << what << ": "
            << mantissa::actors::to_string(mantissa::actors::code_of(err))
            << ": " << mantissa::actors::error_message(err) << '\n';
  return 1;
}

int run(caf::actor_system& sys, const arguments& args) {
  auto gateway = mantissa::client::connect(sys, args.host, args.port);
  if (!gateway)
    return fail("cannot connect to " + args.host + ":"
                  + std::to_string(args.port),
                gateway.error());
  std::string password;
  std::ifstream in{args.password_file};
  if (!std::getline(in, password)) {
    std::cerr << "hello_store: cannot read " << args.password_file << '\n';
    return 1;
  }
  auto login = mantissa::client::session::login(sys, *gateway, args.user,
                                                password);
  if (!login)
    return fail("login as " + args.user, login.error());
  auto& session = *login;
  if (auto store = session.lookup(args.store); !store)
    return fail("no store " + args.store, store.error());

  // Settings are declared by every node; an offering's types (notes.note,
  // ...) work the same way once the node knows them.
  auto item = nlohmann::json::parse(args.item, nullptr, false);
  if (!item.is_object()) {
    std::cerr << "hello_store: --item must be a JSON object\n";
    return 2;
  }
  auto put = session.put(args.store, args.type, item);
  if (!put)
    return fail("put", put.error());
  auto id = put->at("id").get<std::int64_t>();

  auto got = session.get(args.store, args.type, id);
  if (!got)
    return fail("get", got.error());
  for (auto& [key, value] : item.items())
    if (!got->contains(key) || got->at(key) != value) {
      std::cerr << "hello_store: read back " << got->dump() << '\n';
      return 1;
    }
  std::cout << got->dump() << '\n';
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  arguments args;
  if (!parse(argc, argv, args)) {
    std::cerr << "usage: hello_store --port PORT --password-file FILE "
                 "[--host HOST] [--user NAME] [--store ADDRESS] [--type TYPE "
                 "--item JSON]\n";
    return 2;
  }
  caf::actor_system_config cfg;
  mantissa::client::configure(cfg);
  caf::actor_system sys{cfg};
  return run(sys, args); // the session is gone before the system
}
