// ConfigSchema<T>: the one way mds describes a config object (the model's,
// the trainer's, the sampler's). Each field is declared once with its type,
// range, default (the value in a default-constructed T), documentation and
// the source of its default; from that one table come strict JSON parsing
// into the typed struct (unknown keys list the valid ones with a "did you
// mean"), serialisation, validation of a struct built in code, and the
// reference page docs/config.md. Every message has one form:
//   "WHERE.FIELD: expected WHAT, found VALUE"    (WHERE: e.g. "run.json: train")
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace mds {

// Description of one field, for messages and documentation.
struct FieldInfo {
  std::string name;
  std::string type;             // "integer", "number", "boolean", "string (a, b)", ...
  nlohmann::json default_value;
  std::string doc;              // what it means (Markdown)
  std::string accepts;          // the values the parser accepts, as its messages word them
  std::string source;           // where the default comes from (may be empty)
  std::string section;          // heading it is documented under (may be empty)
};

namespace schema {

// The usage error of a value a field does not accept. It carries the parts of
// the message, so that a caller that read the value from a command-line flag
// can name the flag instead of WHERE.FIELD ("--seed: expected an integer >= 0,
// found -1"): one wording whichever way the value came in.
class BadValue : public Error {
 public:
  BadValue(std::string message, std::string field, std::string expected, nlohmann::json found)
      : Error(ExitCode::usage, std::move(message)),
        field_(std::move(field)),
        expected_(std::move(expected)),
        found_(std::move(found)) {}
  const std::string& field() const { return field_; }
  const std::string& expected() const { return expected_; }
  const nlohmann::json& found() const { return found_; }

 private:
  std::string field_, expected_;
  nlohmann::json found_;
};

// A JSON value shortened for a message (never fails, whatever the bytes).
std::string show(const nlohmann::json& v);
// Throws BadValue: "WHERE.NAME: expected EXPECTED, found FOUND".
[[noreturn]] void bad_value(const std::string& where, const std::string& name, const std::string& expected,
                            const nlohmann::json& found);
// Usage error for an unknown key: lists the valid names, suggests the nearest.
[[noreturn]] void unknown_key(const std::string& where, const std::string& key, const std::vector<FieldInfo>& fields);
// v as an integer: 1000 and 1e3 read, 2.5 does not.
bool as_integer(const nlohmann::json& v, long double* out);
// "an integer >= lo" or "an integer in [lo, hi]".
std::string integer_range(long double lo, long double hi, bool hi_is_type_limit);
// "a number > lo" or "a number in [lo, hi)" and so on.
std::string number_range(double lo, bool lo_open, double hi, bool hi_open);
// One Markdown table per section of each schema's fields.
std::string markdown_tables(const std::vector<FieldInfo>& fields, const std::string& section);

constexpr double kInf = std::numeric_limits<double>::infinity();

}  // namespace schema

// A field is named by a data-member pointer (&C::steps) or, for a member of a
// nested struct, by a callable returning a reference to it
// ([](auto& c) -> auto& { return c.solver.steps; }); both go through std::invoke.
template <typename T, typename M>
using FieldType = std::remove_cv_t<std::remove_reference_t<std::invoke_result_t<M, T&>>>;

template <typename T>
class ConfigSchema {
 public:
  using Json = nlohmann::json;
  // Reads a field from JSON into c; throws a usage error naming where.name.
  using Setter = std::function<void(T& c, const Json& v, const std::string& where)>;
  using Getter = std::function<Json(const T& c)>;
  // A check that involves several fields; throws a usage error.
  using Check = std::function<void(const T& c, const std::string& where)>;

  // Fields declared after this are documented under `title`.
  ConfigSchema& section(std::string title) {
    section_ = std::move(title);
    return *this;
  }

  // An integer in [lo, hi] (hi defaults to the member type's limit). `why`,
  // when given, is added to the expectation: "an integer >= 1 (0 = none)".
  template <typename M, typename I = FieldType<T, M>>
  ConfigSchema& integer(const char* name, M m, long double lo, const char* doc, const char* source = "",
                        const char* why = "", long double hi = static_cast<long double>(std::numeric_limits<I>::max())) {
    static_assert(std::is_integral_v<I> && !std::is_same_v<I, bool>);
    const bool open_top = hi >= static_cast<long double>(std::numeric_limits<I>::max());
    const std::string expected = with_why(schema::integer_range(lo, hi, open_top), why);
    const std::string full = with_why(schema::integer_range(lo, hi, false), why);
    Setter set = [m, lo, hi, expected, full, name](T& c, const Json& v, const std::string& where) {
      long double x = 0;
      if (!schema::as_integer(v, &x) || x < lo) schema::bad_value(where, name, expected, v);
      if (x > hi) schema::bad_value(where, name, full, v);
      std::invoke(m, c) = static_cast<I>(x);
    };
    return add({name, "integer", Json(std::invoke(m, defaults())), doc, expected, source, section_}, std::move(set),
               [m](const T& c) { return Json(std::invoke(m, c)); });
  }

  // A finite number between lo and hi; the open flags exclude a bound.
  template <typename M>
  ConfigSchema& number(const char* name, M m, double lo, bool lo_open, double hi, bool hi_open,
                       const char* doc, const char* source = "", const char* why = "") {
    const std::string expected = with_why(schema::number_range(lo, lo_open, hi, hi_open), why);
    Setter set = [=](T& c, const Json& v, const std::string& where) {
      if (!v.is_number()) schema::bad_value(where, name, expected, v);
      const double x = v.get<double>();
      const bool ok = (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi) && x - x == 0;
      if (!ok) schema::bad_value(where, name, expected, v);
      std::invoke(m, c) = x;
    };
    return add({name, "number", Json(std::invoke(m, defaults())), doc, expected, source, section_}, std::move(set),
               [m](const T& c) { return Json(std::invoke(m, c)); });
  }

  template <typename M>
  ConfigSchema& boolean(const char* name, M m, const char* doc, const char* source = "") {
    Setter set = [=](T& c, const Json& v, const std::string& where) {
      if (!v.is_boolean()) schema::bad_value(where, name, "true or false", v);
      std::invoke(m, c) = v.get<bool>();
    };
    return add({name, "boolean", Json(std::invoke(m, defaults())), doc, "true or false", source, section_}, std::move(set),
               [m](const T& c) { return Json(std::invoke(m, c)); });
  }

  // One of a list of names, stored as the enum E (to_name gives each name)
  // or, with E = std::string, as the name itself.
  template <typename E, typename M>
  ConfigSchema& choice(const char* name, M m, std::vector<E> values, std::string (*to_name)(const E&),
                       const char* doc, const char* source = "") {
    std::string alternatives, listed;
    for (const E& e : values) {
      alternatives += (alternatives.empty() ? "" : "|") + to_name(e);
      listed += (listed.empty() ? "" : ", ") + to_name(e);
    }
    const std::string expected = "one of \"" + alternatives + "\"";
    Setter set = [=](T& c, const Json& v, const std::string& where) {
      if (v.is_string())
        for (const E& e : values)
          if (v.get<std::string>() == to_name(e)) {
            std::invoke(m, c) = e;
            return;
          }
      schema::bad_value(where, name, expected, v);
    };
    return add({name, "string (" + listed + ")", Json(to_name(std::invoke(m, defaults()))), doc, expected, source, section_},
               std::move(set), [m, to_name](const T& c) { return Json(to_name(std::invoke(m, c))); });
  }

  // One integer >= lo for every element, or a non-empty array of them.
  ConfigSchema& integers(const char* name, std::vector<int> T::*m, int lo, const char* doc, const char* source = "") {
    const std::string one = schema::integer_range(lo, std::numeric_limits<int>::max(), true);
    const std::string expected = one + " or a non-empty array of them";
    Setter set = [=](T& c, const Json& v, const std::string& where) {
      auto read = [&](const Json& x) {
        long double d = 0;
        if (!schema::as_integer(x, &d) || d < lo || d > std::numeric_limits<int>::max())
          schema::bad_value(where, name, expected, v);
        return static_cast<int>(d);
      };
      std::vector<int> out;
      if (v.is_array()) {
        for (const Json& x : v) out.push_back(read(x));
        if (out.empty()) schema::bad_value(where, name, expected, v);
      } else {
        out.push_back(read(v));
      }
      c.*m = std::move(out);
    };
    const auto get = [m](const T& c) { return Json(c.*m); };
    Json def = get(T{});
    if (def.size() == 1) def = def[0];
    return add({name, "integer or array", def, doc, expected, source, section_}, std::move(set), get);
  }

  // A field whose reading the builders above do not cover.
  ConfigSchema& custom(FieldInfo info, Setter set, Getter get) {
    info.section = section_;
    return add(std::move(info), std::move(set), std::move(get));
  }

  // A check across fields, run after every field is read and by validate().
  ConfigSchema& check(Check c) {
    checks_.push_back(std::move(c));
    return *this;
  }

  // Reads a JSON object over T's defaults: missing keys keep them; an
  // unknown key or a bad value is a usage error starting with `where`.
  T parse(const Json& j, const std::string& where) const {
    if (!j.is_object()) schema::bad_value(where, "", "a JSON object", j);
    T c;
    for (auto it = j.begin(); it != j.end(); ++it) {
      const Field* f = find(it.key());
      if (!f) schema::unknown_key(where, it.key(), infos_);
      f->set(c, it.value(), where);
    }
    run_checks(c, where);
    return c;
  }

  // Every field, defaults included, in declaration order.
  Json to_json(const T& c) const {
    Json j = Json::object();
    for (const Field& f : fields_) j[f.info.name] = f.get(c);
    return j;
  }

  // The checks of parse() for a struct built in code: each field's range
  // (by reading back its own value) and the checks across fields.
  void validate(const T& c, const std::string& where) const {
    T scratch;
    for (const Field& f : fields_) f.set(scratch, f.get(c), where);
    run_checks(c, where);
  }

  // Reads one field from JSON into c, with the checks of parse() for that
  // field alone (a command-line flag that sets it); run validate() after the
  // last one for the checks across fields.
  void set(T& c, const std::string& name, const Json& v, const std::string& where) const {
    const Field* f = find(name);
    if (!f) schema::unknown_key(where, name, infos_);
    f->set(c, v, where);
  }

  const std::vector<FieldInfo>& fields() const { return infos_; }

 private:
  struct Field {
    FieldInfo info;
    Setter set;
    Getter get;
  };

  // A default-constructed T, for the documented defaults (const: a field
  // accessor written as a generic lambda binds to it).
  static const T& defaults() {
    static const T d{};
    return d;
  }
  static std::string with_why(std::string expected, const char* why) {
    return why && *why ? expected + " (" + why + ")" : expected;
  }
  ConfigSchema& add(FieldInfo info, Setter set, Getter get) {
    infos_.push_back(info);
    fields_.push_back({std::move(info), std::move(set), std::move(get)});
    return *this;
  }
  const Field* find(const std::string& name) const {
    for (const Field& f : fields_)
      if (f.info.name == name) return &f;
    return nullptr;
  }
  void run_checks(const T& c, const std::string& where) const {
    for (const Check& check : checks_) check(c, where);
  }

  std::string section_;
  std::vector<Field> fields_;
  std::vector<FieldInfo> infos_;
  std::vector<Check> checks_;
};

// For choice() with names stored as strings.
inline std::string same_name(const std::string& s) { return s; }

}  // namespace mds
