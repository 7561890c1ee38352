#pragma once

#include <string>

namespace mantissa::actors {

/// Who is asking and on behalf of which request. The role is checked by
/// the store actor (M5); `request_id` is carried into logs.
///
/// Over the node's network port, `capability` proves the message belongs
/// to the session it is sent to (or to one of its handles): the login
/// answers it, and the session and its forwarders refuse a message without
/// it before anything else (docs/security.md, "The actor port"). They also
/// replace `role` with the session's and clear `capability` before the
/// message goes on, so a store never sees either as the peer wrote them.
/// Inside a node (front ends, store to store) `capability` is empty.
struct caller {
  std::string role;
  std::string request_id;
  std::string capability;
};

} // namespace mantissa::actors
