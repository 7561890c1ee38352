#pragma once

#include <cstdint>
#include <string>

#include "actors/reply.hpp"

namespace mantissa::actors {

struct caller;

/// Asynchronous requests to stores by address ("site", "user@domain" or an
/// offering name), answered through a `reply_handler`: what the node offers
/// (actors/node.hpp documents each request) to the code it owns that must
/// reach its stores without depending on it (the authenticator).
///
/// Thread rule: callable from any thread while the node runs.
class store_requests {
 public:
  virtual ~store_requests() = default;

  virtual void put(const caller& who, const std::string& address,
                   const std::string& type, const std::string& json,
                   reply_handler done) = 0;
  virtual void update(const caller& who, const std::string& address,
                      const std::string& type, std::int64_t id,
                      const std::string& json, reply_handler done) = 0;
  virtual void remove(const caller& who, const std::string& address,
                      const std::string& type, std::int64_t id,
                      reply_handler done) = 0;
  virtual void query(const caller& who, const std::string& address,
                     const std::string& query_json, reply_handler done) = 0;
  virtual void run(const caller& who, const std::string& address,
                   const std::string& handler, const std::string& args_json,
                   reply_handler done) = 0;
};

} // namespace mantissa::actors
