#include "offerings/mail.hpp"

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
  auto p = s.powerups_for(mail_delivery_interface);
  if (!p)
    return std::move(p).error_value();
  if (p->empty())
    return error{errc::no_such_item,
                 "mail.deliver: this store has no mail-delivery powerup "
                 "(add the 'mail' product to the user); message refused"};
  return {};
}

json summary(const message& m) {
  return internal::without(message_item_type().to_json(m), {"raw"});
}

store::result<json> deliver(store::store& s, const json& raw_args,
                            const actors::caller&) {
  MANTISSA_TRY(need_inbox(s));
  auto args = internal::args_object("mail.deliver", raw_args);
  if (!args)
    return std::move(args).error_value();
  auto delivery_id = internal::opt_string("mail.deliver", *args, "delivery_id");
  if (!delivery_id)
    return std::move(delivery_id).error_value();
  if (!*delivery_id || (*delivery_id)->empty()
      || (*delivery_id)->size() > max_delivery_id_size)
    return error{errc::invalid_value,
                 "mail.deliver: 'delivery_id' is required (1 to "
                   + std::to_string(max_delivery_id_size) + " bytes)"};
  auto raw64 = internal::opt_string("mail.deliver", *args, "raw");
  if (!raw64)
    return std::move(raw64).error_value();
  if (!*raw64)
    return error{errc::invalid_value,
                 "mail.deliver: 'raw' (the message, base64) is required"};
  auto sender = internal::opt_string("mail.deliver", *args, "sender");
  if (!sender)
    return std::move(sender).error_value();
  json recipients = json::array();
  if (auto i = args->find("recipients"); i != args->end() && !i->is_null()) {
    if (!i->is_array())
      return error{errc::invalid_value,
                   "mail.deliver: 'recipients' must be an array of strings"};
    for (auto& r : *i)
      if (!r.is_string())
        return error{errc::invalid_value,
                     "mail.deliver: 'recipients' must be an array of strings"};
    recipients = *i;
  }

  // The same delivery again: answer with the message stored the first time.
  store::query q;
  q.where = store::cmp("delivery_id", store::compare_op::eq,
                       store::value{**delivery_id});
  q.limit = 1;
  auto existing = message_item_type().select(s, q);
  if (!existing)
    return std::move(existing).error_value();
  if (!existing->empty())
    return json{{"id", existing->front().id},
                {"duplicate", true},
                {"message", summary(existing->front())}};

  auto bytes = store::base64_decode(**raw64);
  if (!bytes)
    return error{errc::invalid_value,
                 "mail.deliver: 'raw' is not valid base64: "
                   + bytes.error_value().message};
  auto h = parse_headers(*bytes);
  message m;
  m.sender = sender->value_or("");
  m.recipients = std::move(recipients);
  m.subject = std::move(h.subject);
  m.from_header = std::move(h.from);
  m.to_header = std::move(h.to);
  m.message_id = std::move(h.message_id);
  m.date_header = std::move(h.date);
  m.received = internal::now();
  m.size = static_cast<std::int64_t>(bytes->size());
  m.raw.data = std::move(*bytes);
  m.delivery_id = **delivery_id;
  if (auto id = message_item_type().insert(s, m); !id)
    return error{id.code(), "mail.deliver: " + id.error_value().message};
  return json{{"id", m.id}, {"duplicate", false}, {"message", summary(m)}};
}

store::result<json> list(store::store& s, const json& raw_args,
                         const actors::caller&) {
  auto args = internal::args_object("mail.list", raw_args);
  if (!args)
    return std::move(args).error_value();
  auto limit = internal::opt_int("mail.list", *args, "limit", 0, 1000);
  if (!limit)
    return std::move(limit).error_value();
  auto offset = internal::opt_int("mail.list", *args, "offset", 0, INT64_MAX);
  if (!offset)
    return std::move(offset).error_value();
  store::query q;
  if (auto i = args->find("unread"); i != args->end() && !i->is_null()) {
    if (!i->is_boolean())
      return error{errc::invalid_value,
                   "mail.list: 'unread' must be a boolean"};
    if (i->get<bool>())
      q.where = store::cmp("read", store::compare_op::eq, store::value{false});
  }
  auto total = s.count(message_item_type().name(), q.where);
  if (!total)
    return std::move(total).error_value();
  q.sort = {{"received", true}};
  q.limit = limit->value_or(50);
  q.offset = offset->value_or(0);
  auto msgs = message_item_type().select(s, q);
  if (!msgs)
    return std::move(msgs).error_value();
  json out = json::array();
  for (auto& m : *msgs)
    out.push_back(summary(m));
  return json{{"messages", std::move(out)}, {"total", *total}};
}

store::result<json> get(store::store& s, const json& raw_args,
                        const actors::caller&) {
  auto args = internal::args_object("mail.get", raw_args);
  if (!args)
    return std::move(args).error_value();
  auto id = internal::required_id("mail.get", *args);
  if (!id)
    return std::move(id).error_value();
  auto m = message_item_type().get(s, *id);
  if (!m)
    return std::move(m).error_value();
  return message_item_type().to_json(*m);
}

store::result<json> mark_read(store::store& s, const json& raw_args,
                              const actors::caller&) {
  auto args = internal::args_object("mail.mark_read", raw_args);
  if (!args)
    return std::move(args).error_value();
  auto id = internal::required_id("mail.mark_read", *args);
  if (!id)
    return std::move(id).error_value();
  bool read = true;
  if (auto i = args->find("read"); i != args->end() && !i->is_null()) {
    if (!i->is_boolean())
      return error{errc::invalid_value,
                   "mail.mark_read: 'read' must be a boolean"};
    read = i->get<bool>();
  }
  auto m = message_item_type().get(s, *id);
  if (!m)
    return std::move(m).error_value();
  if (m->read != read) {
    m->read = read;
    MANTISSA_TRY(message_item_type().update(s, *m));
  }
  return summary(*m);
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

offering make_offering() {
  offering o;
  o.name = "mail";
  o.description = "Mail: messages delivered into the user's store";
  o.version = "1.0";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    MANTISSA_TRY(types.add(message_item_type().decl()));
    MANTISSA_TRY(types.add(inbox_item_type().decl()));
    return {};
  };
  o.installable_powerups
    = {{"inbox", "An inbox: receives the user's mail", "mail.inbox", {}}};
  o.shares = {{"mail.message", {"read", "write", "delete"}}};
  o.handlers = {{"mail.deliver", deliver},
                {"mail.list", list},
                {"mail.get", get},
                {"mail.mark_read", mark_read}};
  o.delivery_powerup_type = "mail.inbox";
  o.products = {{"mail", {"inbox"}}};
  return o;
}

} // namespace mantissa::offerings::mail
