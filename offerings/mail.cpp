#include "offerings/mail.hpp"

#include <algorithm>

#include "offerings/internal/args.hpp"
#include "offerings/internal/names.hpp"

namespace mantissa::offerings::mail {

namespace {

using nlohmann::json;
using store::errc;
using store::error;

bool same_name(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z')
      x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z')
      y = static_cast<char>(y - 'A' + 'a');
    if (x != y)
      return false;
  }
  return true;
}

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t'))
    v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t'))
    v.remove_suffix(1);
  return v;
}

/// Length of the valid UTF-8 sequence starting at `s[i]`, or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c < 0x80)
    return c == 0 ? 0 : 1;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size())
    return 0;
  for (std::size_t k = 1; k < n; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))
      || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

/// `v` as valid UTF-8 without NUL, at most `max_header_size` bytes.
std::string clean(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size();) {
    auto n = utf8_sequence(v, i);
    std::string_view piece
      = n == 0 ? std::string_view{"\xEF\xBF\xBD"} : v.substr(i, n);
    if (out.size() + piece.size() > max_header_size)
      break;
    out += piece;
    i += n == 0 ? 1 : n;
  }
  return out;
}

store::result<void> need_inbox(store::store& s) {
  MANTISSA_TRY_LET(p, s.powerups_for(mail_delivery_interface));
  if (p->empty())
    return error{errc::no_such_item,
                 "mail.deliver: this store has no mail-delivery powerup "
                 "(add the 'mail' product to the user); message refused"};
  return {};
}

json summary(const message& m) {
  return internal::without(message_item_type().to_json(m), {"raw"});
}

store::result<json> recipients_of(const json& args) {
  json recipients = json::array();
  if (auto i = args.find("recipients"); i != args.end() && !i->is_null()) {
    if (!i->is_array())
      return error{errc::invalid_value,
                   "mail.deliver: 'recipients' must be an array of strings"};
    for (auto& r : *i)
      if (!r.is_string())
        return error{errc::invalid_value,
                     "mail.deliver: 'recipients' must be an array of strings"};
    recipients = *i;
  }
  return recipients;
}

/// Stores one delivered message: its header fields parsed, its bytes
/// inline (small) or in chunks, once per delivery id.
store::result<json> store_message(store::store& s,
                                  const std::string& delivery_id,
                                  std::string sender, json recipients,
                                  std::string_view bytes) {
  // The same delivery again: answer with the message stored the first time.
  store::query q;
  q.where = store::cmp("delivery_id", store::compare_op::eq,
                       store::value{delivery_id});
  q.limit = 1;
  MANTISSA_TRY_LET(existing, message_item_type().select(s, q));
  if (!existing->empty())
    return json{{"id", existing->front().id},
                {"duplicate", true},
                {"message", summary(existing->front())}};
  auto h = parse_headers(bytes);
  message m;
  m.sender = std::move(sender);
  m.recipients = std::move(recipients);
  m.subject = std::move(h.subject);
  m.from_header = std::move(h.from);
  m.to_header = std::move(h.to);
  m.message_id = std::move(h.message_id);
  m.date_header = std::move(h.date);
  m.received = internal::now();
  m.size = static_cast<std::int64_t>(bytes.size());
  bool chunked = bytes.size() > raw_chunk_size;
  if (!chunked)
    m.raw.data.assign(bytes.data(), bytes.size());
  m.delivery_id = delivery_id;
  if (auto id = message_item_type().insert(s, m); !id)
    return error{id.code(), "mail.deliver: " + id.error_value().message};
  if (chunked) {
    raw_chunk c;
    c.message = store::reference{m.id};
    for (std::size_t at = 0; at < bytes.size(); at += raw_chunk_size) {
      c.id = 0;
      c.data.data.assign(bytes.substr(at, raw_chunk_size));
      if (auto id = raw_chunk_item_type().insert(s, c); !id)
        return error{id.code(), "mail.deliver: " + id.error_value().message};
      ++c.seq;
    }
  }
  return json{{"id", m.id}, {"duplicate", false}, {"message", summary(m)}};
}

/// The envelope of a delivery: its id, sender and recipients.
struct envelope {
  std::string delivery_id;
  std::string sender;
  json recipients;
};

store::result<envelope> envelope_of(const json& args) {
  MANTISSA_TRY_LET(delivery_id,
                   internal::opt_string("mail.deliver", args, "delivery_id"));
  if (!*delivery_id || (*delivery_id)->empty()
      || (*delivery_id)->size() > max_delivery_id_size)
    return error{errc::invalid_value,
                 "mail.deliver: 'delivery_id' is required (1 to "
                   + std::to_string(max_delivery_id_size) + " bytes)"};
  MANTISSA_TRY_LET(sender,
                   internal::opt_string("mail.deliver", args, "sender"));
  MANTISSA_TRY_LET(recipients, recipients_of(args));
  return envelope{**delivery_id, sender->value_or(""), std::move(*recipients)};
}

/// What both forms of `mail.deliver` check first, in this order: the
/// store's inbox, the arguments, the envelope.
struct delivery_args {
  json args;
  envelope env;
};

store::result<delivery_args> delivery_of(store::store& s,
                                         const json& raw_args) {
  MANTISSA_TRY(need_inbox(s));
  MANTISSA_TRY_LET(args, internal::args_object("mail.deliver", raw_args));
  MANTISSA_TRY_LET(env, envelope_of(*args));
  return delivery_args{std::move(*args), std::move(*env)};
}

store::result<json> deliver(store::store& s, const json& raw_args,
                            const actors::caller&) {
  MANTISSA_TRY_LET(d, delivery_of(s, raw_args));
  auto& env = d->env;
  auto& args = d->args;
  MANTISSA_TRY_LET(raw64, internal::opt_string("mail.deliver", args, "raw"));
  if (!*raw64)
    return error{errc::invalid_value,
                 "mail.deliver: 'raw' (the message, base64) is required"};
  auto bytes = store::base64_decode(**raw64);
  if (!bytes)
    return error{errc::invalid_value,
                 "mail.deliver: 'raw' is not valid base64: "
                   + bytes.error_value().message};
  return store_message(s, env.delivery_id, std::move(env.sender),
                       std::move(env.recipients), *bytes);
}

/// `mail.raw` `{"id", "offset", "length"}` -> `{"size", "offset", "data"}`:
/// a range of the message's raw bytes (base64), at most one chunk (1 MiB)
/// at a time; the whole message in a few calls however large it is.
store::result<json> raw_range(store::store& s, const json& raw_args,
                              const actors::caller&) {
  MANTISSA_TRY_LET(args, internal::args_object("mail.raw", raw_args));
  MANTISSA_TRY_LET(id, internal::required_id("mail.raw", *args));
  MANTISSA_TRY_LET(
    offset, internal::opt_int("mail.raw", *args, "offset", 0, INT64_MAX));
  MANTISSA_TRY_LET(
    length, internal::opt_int("mail.raw", *args, "length", 0,
                              static_cast<std::int64_t>(raw_chunk_size)));
  std::string out;
  auto from = offset->value_or(0);
  MANTISSA_TRY_LET(
    size, read_raw(s, *id, from, length->value_or(raw_chunk_size), out));
  return json{{"size", *size},
              {"offset", std::min(from, *size)},
              {"data", store::base64_encode(out)}};
}

store::result<json> list(store::store& s, const json& raw_args,
                         const actors::caller&) {
  MANTISSA_TRY_LET(args, internal::args_object("mail.list", raw_args));
  MANTISSA_TRY_LET(page, internal::page_args("mail.list", *args));
  store::query q;
  if (auto i = args->find("unread"); i != args->end() && !i->is_null()) {
    if (!i->is_boolean())
      return error{errc::invalid_value,
                   "mail.list: 'unread' must be a boolean"};
    if (i->get<bool>())
      q.where = store::cmp("read", store::compare_op::eq, store::value{false});
  }
  MANTISSA_TRY_LET(total, s.count(message_item_type().name(), q.where));
  q.sort = {{"received", true}};
  q.limit = page->limit;
  q.offset = page->offset;
  MANTISSA_TRY_LET(msgs, message_item_type().select(s, q));
  json out = json::array();
  for (auto& m : *msgs)
    out.push_back(summary(m));
  return json{{"messages", std::move(out)}, {"total", *total}};
}

store::result<json> get(store::store& s, const json& raw_args,
                        const actors::caller&) {
  MANTISSA_TRY_LET(args, internal::args_object("mail.get", raw_args));
  MANTISSA_TRY_LET(id, internal::required_id("mail.get", *args));
  MANTISSA_TRY_LET(m, message_item_type().get(s, *id));
  auto out = message_item_type().to_json(*m);
  if (static_cast<std::int64_t>(m->raw.data.size()) != m->size) {
    // Too large to travel in one answer: read it with mail.raw.
    out.erase("raw");
    out["raw_chunked"] = true;
  }
  return out;
}

store::result<json> mark_read(store::store& s, const json& raw_args,
                              const actors::caller&) {
  MANTISSA_TRY_LET(args, internal::args_object("mail.mark_read", raw_args));
  MANTISSA_TRY_LET(id, internal::required_id("mail.mark_read", *args));
  bool read = true;
  if (auto i = args->find("read"); i != args->end() && !i->is_null()) {
    if (!i->is_boolean())
      return error{errc::invalid_value,
                   "mail.mark_read: 'read' must be a boolean"};
    read = i->get<bool>();
  }
  MANTISSA_TRY_LET(m, message_item_type().get(s, *id));
  if (m->read != read) {
    m->read = read;
    MANTISSA_TRY(message_item_type().update(s, *m));
  }
  return summary(*m);
}

using plain_handler = store::result<json> (*)(store::store&, const json&,
                                               const actors::caller&);

/// A plain handler on a route: its arguments are the route's, flattened
/// (`flat_route_args`).
template<plain_handler F>
store::result<json> on_route(store::store& s, const json& args,
                             const actors::caller& who) {
  return F(s, flat_route_args(args), who);
}

/// The hooks of `mail.message`: whichever path stores a message, it has a
/// `received` time (the time it is created when the writer gives none),
/// and no update changes it.
store::item_hooks message_hooks() {
  static const auto received = static_cast<std::size_t>(
    message_item_type().decl().index_of("received"));
  store::item_hooks h;
  h.before_create = [](store::store&, store::item& next) -> store::result<void> {
    if (next.values[received] == store::value{store::timestamp{}})
      next.values[received] = internal::now();
    return {};
  };
  h.before_update = [](store::store&, const store::item& old,
                       store::item& next) -> store::result<void> {
    next.values[received] = old.values[received];
    return {};
  };
  return h;
}

} // namespace

headers parse_headers(std::string_view raw) {
  headers out;
  bool seen_subject = false, seen_from = false, seen_to = false,
       seen_date = false, seen_id = false;
  std::string* current = nullptr; // the field being unfolded, if kept
  std::string name, value;
  auto finish = [&] {
    if (current != nullptr)
      *current = clean(trim(value));
    current = nullptr;
    value.clear();
  };
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto nl = raw.find('\n', pos);
    auto end = nl == std::string_view::npos ? raw.size() : nl;
    auto line = raw.substr(pos, end - pos);
    pos = nl == std::string_view::npos ? raw.size() : nl + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty())
      break; // end of the header block
    if (line.front() == ' ' || line.front() == '\t') {
      if (current != nullptr && value.size() <= 4 * max_header_size)
        value.append(line);
      continue;
    }
    finish();
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto field = trim(line.substr(0, colon));
    auto take = [&](const char* n, bool& seen, std::string& dest) {
      if (current == nullptr && !seen && same_name(field, n)) {
        seen = true;
        current = &dest;
      }
    };
    take("subject", seen_subject, out.subject);
    take("from", seen_from, out.from);
    take("to", seen_to, out.to);
    take("date", seen_date, out.date);
    take("message-id", seen_id, out.message_id);
    if (current != nullptr)
      value.assign(line.substr(colon + 1));
  }
  finish();
  return out;
}

const store::item_type<message>& message_item_type() {
  static const auto type
    = store::item_type<message>{"mail.message", 1}
        .attribute("sender", &message::sender)
        .attribute("recipients", &message::recipients)
        .attribute("subject", &message::subject)
        .attribute("from_header", &message::from_header)
        .attribute("to_header", &message::to_header)
        .attribute("message_id", &message::message_id)
        .attribute("date_header", &message::date_header)
        .attribute("received", &message::received, {.indexed = true})
        .attribute("size", &message::size)
        .attribute("raw", &message::raw)
        .attribute("read", &message::read)
        .attribute("delivery_id", &message::delivery_id,
                   {.indexed = true, .max_size = max_delivery_id_size});
  return type;
}

const store::item_type<inbox>& inbox_item_type() {
  static const auto type = store::item_type<inbox>{"mail.inbox", 1}
                             .attribute("name", &inbox::name)
                             .powerup(std::string{mail_delivery_interface});
  return type;
}

const store::item_type<raw_chunk>& raw_chunk_item_type() {
  static const auto type
    = store::item_type<raw_chunk>{"mail.raw_chunk", 1}
        .attribute("message", &raw_chunk::message,
                   {.indexed = true,
                    .target = "mail.message",
                    .on_delete = store::delete_policy::cascade})
        .attribute("seq", &raw_chunk::seq)
        .attribute("data", &raw_chunk::data);
  return type;
}

store::result<json> deliver_payload(store::store& s, const json& raw_args,
                                    std::string_view raw,
                                    const actors::caller&) {
  MANTISSA_TRY_LET(d, delivery_of(s, raw_args));
  return store_message(s, d->env.delivery_id, std::move(d->env.sender),
                       std::move(d->env.recipients), raw);
}

store::result<std::int64_t> read_raw(store::store& s, store::item_id id,
                                     std::int64_t offset, std::int64_t length,
                                     std::string& out) {
  out.clear();
  MANTISSA_TRY_LET(m, message_item_type().get(s, id));
  auto size = m->size;
  offset = std::clamp<std::int64_t>(offset, 0, size);
  length = std::clamp<std::int64_t>(length, 0, size - offset);
  if (length == 0)
    return size;
  if (static_cast<std::int64_t>(m->raw.data.size()) == size) {
    out.assign(m->raw.data, static_cast<std::size_t>(offset),
               static_cast<std::size_t>(length));
    return size;
  }
  auto chunk = static_cast<std::int64_t>(raw_chunk_size);
  store::query q;
  q.where = store::and_(
    {store::cmp("message", store::compare_op::eq,
                store::value{store::reference{id}}),
     store::cmp("seq", store::compare_op::ge, store::value{offset / chunk}),
     store::cmp("seq", store::compare_op::le,
                store::value{(offset + length - 1) / chunk})});
  q.sort = {{"seq", false}};
  MANTISSA_TRY_LET(chunks, raw_chunk_item_type().select(s, q));
  out.reserve(static_cast<std::size_t>(length));
  for (auto& c : *chunks) {
    auto begin = c.seq * chunk;
    auto from = std::max(offset, begin) - begin;
    auto to = std::min(offset + length, begin + static_cast<std::int64_t>(c.data.data.size())) - begin;
    if (to > from)
      out.append(c.data.data, static_cast<std::size_t>(from),
                 static_cast<std::size_t>(to - from));
  }
  if (static_cast<std::int64_t>(out.size()) != length)
    return error{errc::internal, "mail.raw: the message's chunks are incomplete"};
  return size;
}

offering make_offering() {
  offering o;
  o.name = "mail";
  o.description = "Mail: messages delivered into the user's store";
  o.version = "1.0";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    MANTISSA_TRY(types.add(message_item_type().decl()));
    MANTISSA_TRY(types.add_hooks(message_item_type().name(), message_hooks()));
    MANTISSA_TRY(types.add(inbox_item_type().decl()));
    MANTISSA_TRY(types.add(raw_chunk_item_type().decl()));
    return {};
  };
  o.installable_powerups
    = {{"inbox", "An inbox: receives the user's mail", "mail.inbox", {}}};
  o.shares = {{"mail.message", {"read", "write", "delete"}}};
  o.handlers = {{std::string{deliver_handler}, deliver},
                {"mail.list", list},
                {"mail.get", get},
                {"mail.raw", raw_range},
                {"mail.mark_read", mark_read},
                {"mail.route_list", on_route<list>},
                {"mail.route_get", on_route<get>},
                {"mail.route_mark_read", on_route<mark_read>}};
  // The mail page (/mail, docs/web.md) reads the owner's own store
  // through these.
  o.routes = {{"GET", "/messages", "mail.route_list"},
              {"GET", "/messages/{id}", "mail.route_get"},
              {"POST", "/messages/{id}/read", "mail.route_mark_read"}};
  o.delivery_powerup_type = "mail.inbox";
  o.products = {{"mail", {"inbox"}}};
  return o;
}

} // namespace mantissa::offerings::mail
