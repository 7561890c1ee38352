// `todo`: a to-do list offering, built out of tree and loaded by a node as
// a plugin. One item type (`todo.task`) with a hook, an installable
// powerup (`todo-list`), a product (`todo`), three handlers, and routes
// under /apps/todo/ with an HTML page.

#include <offerings/offering.hpp>
#include <store/typed.hpp>

namespace {

using namespace mantissa;
using nlohmann::json;

struct task {
  store::item_id id = 0;
  std::string title;
  bool done = false;
};

struct todo_list {
  store::item_id id = 0;
  std::string name = "todo";
};

const store::item_type<task>& task_type() {
  static const auto type = store::item_type<task>{"todo.task", 1}
                             .attribute("title", &task::title)
                             .attribute("done", &task::done);
  return type;
}

const store::item_type<todo_list>& todo_list_type() {
  static const auto type = store::item_type<todo_list>{"todo.list", 1}
                             .attribute("name", &todo_list::name)
                             .powerup("todo");
  return type;
}

/// Handlers run only in stores that have the to-do list powerup.
store::result<void> need_list(store::store& s) {
  auto lists = s.powerups_for("todo");
  if (!lists)
    return std::move(lists).error_value();
  if (lists->empty())
    return store::error{
      store::errc::no_such_item,
      "this store has no to-do list (add the 'todo' product)"};
  return {};
}

// todo.add {title} -> the task
store::result<json> add_task(store::store& s, const json& args,
                             const actors::caller&) {
  MANTISSA_TRY(need_list(s));
  if (!args.is_object() || !args.contains("title")
      || !args["title"].is_string())
    return store::error{store::errc::invalid_value,
                        "todo.add: 'title' (a string) is required"};
  task t;
  t.title = args["title"].get<std::string>();
  MANTISSA_TRY(task_type().insert(s, t));
  return task_type().to_json(t);
}

// todo.list {} -> {"tasks": [...]}, open tasks first
store::result<json> list_tasks(store::store& s, const json&,
                               const actors::caller&) {
  MANTISSA_TRY(need_list(s));
  store::query q;
  q.sort = {{"done", false}};
  auto tasks = task_type().select(s, q);
  if (!tasks)
    return std::move(tasks).error_value();
  json out = json::array();
  for (auto& t : *tasks)
    out.push_back(task_type().to_json(t));
  return json{{"tasks", std::move(out)}};
}

// todo.done {id} -> the task, marked done
store::result<json> finish_task(store::store& s, const json& args,
                                const actors::caller&) {
  MANTISSA_TRY(need_list(s));
  if (!args.is_object() || !args.contains("id")
      || !args["id"].is_number_integer())
    return store::error{store::errc::invalid_value,
                        "todo.done: 'id' (an integer) is required"};
  auto t = task_type().get(s, args["id"].get<store::item_id>());
  if (!t)
    return std::move(t).error_value();
  t->done = true;
  MANTISSA_TRY(task_type().update(s, *t));
  return task_type().to_json(*t);
}

// Routes give their handler {"params", "query", "body"}: POST /tasks adds
// the task its JSON body describes.
store::result<json> add_route(store::store& s, const json& args,
                              const actors::caller& who) {
  return add_task(s, args.value("body", json()), who);
}

// GET / -> the page: the tasks as HTML, every value escaped.
store::result<json> page(store::store& s, const json& args,
                         const actors::caller& who) {
  auto list = list_tasks(s, args, who);
  if (!list)
    return list;
  std::string html = "<!doctype html><html lang=\"en\"><head>"
                     "<meta charset=\"utf-8\"><title>To do</title></head>"
                     "<body><h1>To do</h1><ul id=\"tasks\">";
  for (auto& t : (*list)["tasks"]) {
    const char* state = t["done"].get<bool>() ? "done" : "open";
    html += std::string{"<li class=\""} + state + "\">"
            + offerings::html_escape(t["title"].get<std::string>()) + "</li>";
  }
  return json(html + "</ul></body></html>");
}

// Runs inside the store on every write of a task, whichever way it comes
// (a handler, the JSON API, the actor port, a fan-out): the title is
// trimmed, and a blank one refuses the write.
store::result<void> tidy_title(store::item& next) {
  auto& title = std::get<std::string>(next.values[0]);  // "title"
  auto first = title.find_first_not_of(" \t\n");
  if (first == std::string::npos)
    return store::error{store::errc::invalid_value,
                        "todo.task: the title is blank"};
  title = title.substr(first, title.find_last_not_of(" \t\n") - first + 1);
  return {};
}

store::item_hooks task_hooks() {
  store::item_hooks h;
  h.before_create = [](store::store&, store::item& next) {
    return tidy_title(next);
  };
  h.before_update = [](store::store&, const store::item&, store::item& next) {
    return tidy_title(next);
  };
  return h;
}

offerings::offering make_todo() {
  offerings::offering o;
  o.name = "todo";
  o.description = "A to-do list";
  o.version = "1.0";
  o.register_types = [](store::type_registry& types) -> store::result<void> {
    MANTISSA_TRY(types.add(task_type().decl()));
    MANTISSA_TRY(types.add_hooks("todo.task", task_hooks()));
    MANTISSA_TRY(types.add(todo_list_type().decl()));
    return {};
  };
  o.installable_powerups = {{"todo-list", "A to-do list", "todo.list", {}}};
  o.shares = {{"todo.task", {"read", "write", "delete"}}};
  o.handlers = {{"todo.add", add_task},
                {"todo.list", list_tasks},
                {"todo.done", finish_task}};
  o.products = {{"todo", {"todo-list"}}};
  o.handlers.push_back({"todo.add_route", add_route});
  o.handlers.push_back({"todo.page", page});
  // In the caller's own store (the default `where`), the owner's only.
  o.routes = {{"GET", "/tasks", "todo.list"},
              {"POST", "/tasks", "todo.add_route"},
              {"GET", "/", "todo.page", offerings::route_store::caller, "",
               "", true}};
  return o;
}

} // namespace

MANTISSA_EXPORT_OFFERING(make_todo)
