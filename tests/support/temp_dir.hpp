#pragma once

#include <filesystem>
#include <string>

namespace mantissa::test {

/// A fresh directory under the system temp directory, removed with
/// everything in it when the object goes out of scope.
class temp_dir {
 public:
  explicit temp_dir(const std::string& prefix = "mantissa-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  [[nodiscard]] const std::filesystem::path& path() const noexcept {
    return path_;
  }
  [[nodiscard]] std::filesystem::path operator/(const std::string& name) const {
    return path_ / name;
  }

 private:
  std::filesystem::path path_;
};

} // namespace mantissa::test
