#pragma once

#include <filesystem>
#include <memory>
#include <string>

namespace mantissa::actors {

/// Settings of one node process.
struct node_options {
  /// The data directory (site store, user stores, app stores).
  std::filesystem::path data_dir;
  /// The node's name in a cluster; defaults to the host name.
  std::string name;
  /// CAF scheduler threads; 0 picks the number of cores.
  unsigned scheduler_threads = 0;
};

/// One Mantissa node: an actor system over one data directory.
///
/// Thread rule: constructed, started and stopped by one owner thread (the
/// CLI's main thread). Its actors run on the actor system's threads.
class node {
 public:
  explicit node(node_options opts);
  ~node();  ///< stops the node if it is running
  node(const node&) = delete;
  node& operator=(const node&) = delete;

  /// Creates the data directory if needed and starts the actor system.
  /// On failure returns false with a message in `err`.
  [[nodiscard]] bool start(std::string& err);

  /// Stops every actor the node spawned and shuts the actor system down.
  /// Idempotent.
  void stop();

  [[nodiscard]] const node_options& options() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// The data directory used when none is given: `$MANTISSA_DATA` when set
/// and not empty, else `./mantissa-data`.
[[nodiscard]] std::filesystem::path default_data_dir();

} // namespace mantissa::actors
