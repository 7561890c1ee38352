// The manifests of backups (actors/backup.hpp): one node's `manifest.json`
// and a cluster backup's top-level one, their checks, and the verification
// of a backup's files against its manifest.

#include "actors/backup.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <set>
#include <utility>
#include <system_error>

#include <nlohmann/json.hpp>

#include "store/backup.hpp"

namespace mantissa::actors {

namespace {

using store::errc;
using store::error;
namespace fs = std::filesystem;

bool is_hex64(const std::string& s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// Reads what every manifest starts with: "format" into `format`, and the
/// strings `name_key` ("node" or "seed") into `name` and "time" into
/// `time` where present. Returns what is wrong with the format (absent, or
/// a version this program cannot read; `say_limit` adds which it can), or
/// nullopt.
std::optional<std::string> read_head(const nlohmann::json& j, bool say_limit,
                                     int& format, const char* name_key,
                                     std::string& name, std::string& time) {
  auto f = j.find("format");
  if (f == j.end() || !f->is_number_integer())
    return "no format version";
  format = f->get<int>();
  if (format < 1 || format > backup_format_version)
    return "format version " + std::to_string(format)
           + (say_limit ? " (this mantissa reads up to "
                            + std::to_string(backup_format_version) + ")"
                        : std::string{});
  const std::pair<const char*, std::string*> strings[]{{name_key, &name},
                                                       {"time", &time}};
  for (auto [key, out] : strings)
    if (auto v = j.find(key); v != j.end() && v->is_string())
      *out = v->get<std::string>();
  return std::nullopt;
}

} // namespace

// -- the manifest ----------------------------------------------------------------

nlohmann::json to_json(const backup_manifest& m) {
  auto stores = nlohmann::json::array();
  for (auto& e : m.stores)
    stores.push_back({{"address", e.address},
                      {"path", e.path},
                      {"bytes", e.bytes},
                      {"sha256", e.sha256}});
  return {{"format", m.format},
          {"node", m.node},
          {"time", m.time},
          {"stores", std::move(stores)}};
}

store::result<backup_manifest> manifest_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) {
    return error{errc::invalid_value, "manifest: " + why};
  };
  if (!j.is_object())
    return bad("not a JSON object");
  backup_manifest m;
  if (auto why = read_head(j, true, m.format, "node", m.node, m.time))
    return bad(*why);
  auto s = j.find("stores");
  if (s == j.end() || !s->is_array())
    return bad("no \"stores\" array");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < s->size(); ++i) {
    auto& e = (*s)[i];
    auto where = "store #" + std::to_string(i + 1) + ": ";
    if (!e.is_object())
      return bad(where + "not an object");
    auto a = e.find("address");
    auto p = e.find("path");
    auto b = e.find("bytes");
    auto h = e.find("sha256");
    if (a == e.end() || !a->is_string() || p == e.end() || !p->is_string()
        || b == e.end() || !b->is_number_unsigned() || h == e.end()
        || !h->is_string())
      return bad(where + "needs \"address\", \"path\" (strings), \"bytes\" "
                         "(a number) and \"sha256\" (a string)");
    backup_entry entry{a->get<std::string>(), p->get<std::string>(),
                       b->get<std::uint64_t>(), h->get<std::string>()};
    where = "store " + entry.address.substr(0, 128) + ": ";
    auto rel = relative_store_path(entry.address);
    if (!rel)
      return bad(where + rel.error_value().message);
    // The path must be where the address belongs: nothing outside the
    // backup (or the data directory) is ever read or written.
    if (entry.path != rel->generic_string())
      return bad(where + "path \"" + entry.path.substr(0, 256)
                 + "\" is not " + rel->generic_string());
    if (!is_hex64(entry.sha256))
      return bad(where + "sha256 is not 64 lower-case hex digits");
    if (!seen.insert(entry.address).second)
      return bad(where + "listed twice");
    m.stores.push_back(std::move(entry));
  }
  return m;
}

namespace {

/// Writes `DIR/manifest.json` atomically (temporary file, sync, rename,
/// directory sync).
store::result<void> write_manifest_json(const fs::path& dir,
                                        const nlohmann::json& j) {
  auto final_path = dir / manifest_name;
  auto temp = final_path;
  temp += ".tmp";
  {
    std::ofstream out{temp, std::ios::binary | std::ios::trunc};
    out << j.dump(2) << '\n';
    out.flush();
    if (!out)
      return error{errc::io_error, "cannot write " + temp.string()};
  }
  MANTISSA_TRY(store::sync_file(temp));
  std::error_code ec;
  fs::rename(temp, final_path, ec);
  if (ec)
    return error{errc::io_error,
                 "cannot rename " + temp.string() + ": " + ec.message()};
  return store::sync_directory(dir);
}

/// `DIR/manifest.json` parsed; errors as `read_manifest` documents.
store::result<nlohmann::json> read_manifest_json(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return error{errc::no_such_item, dir.string() + " is not a directory"};
  auto path = dir / manifest_name;
  if (!fs::exists(path, ec))
    return error{errc::no_such_item,
                 dir.string() + " has no " + manifest_name
                   + ": not a complete backup (the manifest is written last)"};
  std::ifstream in{path, std::ios::binary};
  std::string text{std::istreambuf_iterator<char>{in}, {}};
  if (!in && !in.eof())
    return error{errc::io_error, "cannot read " + path.string()};
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded())
    return error{errc::invalid_value, path.string() + " is not valid JSON"};
  return j;
}

bool is_cluster_json(const nlohmann::json& j) {
  return j.is_object() && j.contains("kind") && j["kind"] == "cluster";
}

std::string node_names(const cluster_manifest& m) {
  std::string out;
  for (auto& n : m.nodes)
    out += (out.empty() ? "" : ", ") + n.name;
  return out;
}

} // namespace

store::result<void> write_manifest(const fs::path& dir,
                                   const backup_manifest& m) {
  return write_manifest_json(dir, to_json(m));
}

store::result<backup_manifest> read_manifest(const fs::path& dir) {
  auto j = read_manifest_json(dir);
  if (!j)
    return std::move(j).error_value();
  auto path = dir / manifest_name;
  if (is_cluster_json(*j)) {
    auto c = cluster_manifest_from_json(*j);
    return error{errc::invalid_value,
                 dir.string() + " is a cluster backup"
                   + (c ? " (nodes " + node_names(*c) + ")" : std::string{})
                   + ": restore one node's part with --node NAME"};
  }
  auto m = manifest_from_json(*j);
  if (!m)
    return error{errc::invalid_value,
                 path.string() + ": " + m.error_value().message};
  return m;
}

store::result<void>
verify_backup(const fs::path& dir, const backup_manifest& m,
              const std::function<void(std::size_t, std::size_t)>& progress) {
  std::size_t done = 0;
  for (auto& e : m.stores) {
    auto file = dir / e.path;
    std::error_code ec;
    auto size = fs::file_size(file, ec);
    if (ec)
      return error{errc::corrupt, file.string() + " (" + e.address
                                    + ") is missing: " + ec.message()};
    if (size != e.bytes)
      return error{errc::corrupt,
                   file.string() + " (" + e.address + ") has "
                     + std::to_string(size) + " bytes, the manifest says "
                     + std::to_string(e.bytes)};
    auto sum = sha256_file(file);
    if (!sum)
      return error{errc::corrupt, sum.error_value().message};
    if (*sum != e.sha256)
      return error{errc::corrupt, file.string() + " (" + e.address
                                    + ") does not match its SHA-256 in the "
                                      "manifest"};
    if (progress)
      progress(++done, m.stores.size());
  }
  return {};
}

// -- cluster backups -------------------------------------------------------------

bool is_node_dir_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.')
    return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

nlohmann::json to_json(const cluster_manifest& m) {
  auto nodes = nlohmann::json::array();
  for (auto& n : m.nodes)
    nodes.push_back({{"name", n.name},
                     {"path", n.name},
                     {"stores", n.stores},
                     {"bytes", n.bytes},
                     {"manifest_sha256", n.manifest_sha256}});
  return {{"format", m.format}, {"kind", "cluster"}, {"seed", m.seed},
          {"time", m.time},     {"nodes", std::move(nodes)}};
}

store::result<cluster_manifest>
cluster_manifest_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) {
    return error{errc::invalid_value, "cluster manifest: " + why};
  };
  if (!is_cluster_json(j))
    return bad("not a cluster backup's manifest");
  cluster_manifest m;
  if (auto why = read_head(j, false, m.format, "seed", m.seed, m.time))
    return bad(*why);
  auto n = j.find("nodes");
  if (n == j.end() || !n->is_array() || n->empty())
    return bad("no \"nodes\" array");
  std::set<std::string> seen;
  for (auto& e : *n) {
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string()
        || !e.contains("manifest_sha256") || !e["manifest_sha256"].is_string())
      return bad("a node needs \"name\" and \"manifest_sha256\"");
    cluster_backup_node node;
    node.name = e["name"].get<std::string>();
    if (!is_node_dir_name(node.name))
      return bad("node name \"" + node.name.substr(0, 64)
                 + "\" is not a plain directory name");
    if (e.contains("path") && e["path"] != node.name)
      return bad("node " + node.name + ": its path must be its name");
    node.manifest_sha256 = e["manifest_sha256"].get<std::string>();
    if (!is_hex64(node.manifest_sha256))
      return bad("node " + node.name + ": manifest_sha256 is not 64 hex digits");
    if (auto s = e.find("stores"); s != e.end() && s->is_number_unsigned())
      node.stores = s->get<std::size_t>();
    if (auto b = e.find("bytes"); b != e.end() && b->is_number_unsigned())
      node.bytes = b->get<std::uint64_t>();
    if (!seen.insert(node.name).second)
      return bad("node " + node.name + " listed twice");
    m.nodes.push_back(std::move(node));
  }
  return m;
}

store::result<void> write_cluster_manifest(const fs::path& dir,
                                           const cluster_manifest& m) {
  return write_manifest_json(dir, to_json(m));
}

store::result<std::optional<cluster_manifest>>
read_cluster_manifest(const fs::path& dir) {
  auto j = read_manifest_json(dir);
  if (!j)
    return std::move(j).error_value();
  if (!is_cluster_json(*j))
    return std::optional<cluster_manifest>{};
  auto m = cluster_manifest_from_json(*j);
  if (!m)
    return error{errc::invalid_value, (dir / manifest_name).string() + ": "
                                        + m.error_value().message};
  return std::optional<cluster_manifest>{std::move(*m)};
}

store::result<fs::path> cluster_backup_part(const fs::path& dir,
                                            const std::string& name) {
  auto m = read_cluster_manifest(dir);
  if (!m)
    return std::move(m).error_value();
  if (!*m)
    return error{errc::invalid_value,
                 dir.string() + " is the backup of one node, not of a "
                                "cluster: restore it without --node"};
  for (auto& n : (*m)->nodes) {
    if (n.name != name)
      continue;
    auto part = dir / n.name;
    auto sum = sha256_file(part / manifest_name);
    if (!sum)
      return error{errc::corrupt, "node " + name + "'s part: "
                                    + sum.error_value().message};
    if (*sum != n.manifest_sha256)
      return error{errc::corrupt,
                   (part / manifest_name).string()
                     + " is not the manifest the cluster backup recorded"};
    return part;
  }
  return error{errc::no_such_item, "the cluster backup in " + dir.string()
                                     + " has no node " + name.substr(0, 64)
                                     + " (it has " + node_names(**m) + ")"};
}

} // namespace mantissa::actors
