// JSON parsing with a nesting limit and positioned errors (json_text.h).
#include "io/json_text.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace mds {
namespace {

// Builds the value from nlohmann's SAX events (its parser is iterative) and
// stops at the first array or object deeper than the limit, before the value
// ever holds a nesting that later recursion could not handle.
template <typename J>
class LimitedBuilder {
 public:
  using number_integer_t = typename J::number_integer_t;
  using number_unsigned_t = typename J::number_unsigned_t;
  using number_float_t = typename J::number_float_t;
  using string_t = typename J::string_t;
  using binary_t = typename J::binary_t;

  explicit LimitedBuilder(J& root) : root_(root) {}

  bool null() { return put(J(nullptr)) != nullptr; }
  bool boolean(bool v) { return put(J(v)) != nullptr; }
  bool number_integer(number_integer_t v) { return put(J(v)) != nullptr; }
  bool number_unsigned(number_unsigned_t v) { return put(J(v)) != nullptr; }
  bool number_float(number_float_t v, const string_t&) { return put(J(v)) != nullptr; }
  bool string(string_t& v) { return put(J(std::move(v))) != nullptr; }
  bool binary(binary_t& v) { return put(J::binary(std::move(v))) != nullptr; }
  bool start_object(std::size_t) { return open(J::object()); }
  bool start_array(std::size_t) { return open(J::array()); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(string_t& k) {
    slot_ = &(*open_.back())[std::move(k)];
    return true;
  }
  template <typename Exception>
  bool parse_error(std::size_t position, const std::string& token, const Exception& ex) {
    failed_ = true;
    error_.byte = position;
    if (ex.id == 406) {  // nlohmann's "number overflow": the text was a number, its value is not a double
      error_.kind = JsonParseError::Kind::number_out_of_range;
      error_.detail = token.size() > 40 ? token.substr(0, 37) + "..." : token;
      // position is just past the number; point at its first byte instead.
      if (position >= token.size()) error_.byte = position - token.size() + 1;
    } else {
      error_.kind = JsonParseError::Kind::syntax;
      error_.detail = ex.what();
    }
    return false;
  }

  bool too_deep() const { return too_deep_; }
  bool failed() const { return failed_; }
  const JsonParseError& error() const { return error_; }

 private:
  // Stores v where the parser is (the root, the open array, or the slot of the
  // last key) and returns where it went. Pointers to open containers stay
  // valid: nothing is added to a container while one of its children is open.
  J* put(J&& v) {
    if (open_.empty()) {
      root_ = std::move(v);
      return &root_;
    }
    J& top = *open_.back();
    if (top.is_array()) {
      top.push_back(std::move(v));
      return &top.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }
  bool open(J&& container) {
    if (open_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      too_deep_ = true;
      return false;
    }
    open_.push_back(put(std::move(container)));
    return true;
  }
  bool close() {
    open_.pop_back();
    return true;
  }

  J& root_;
  std::vector<J*> open_;
  J* slot_ = nullptr;
  bool too_deep_ = false, failed_ = false;
  JsonParseError error_;
};

// 1-based offset of the bracket that opens level kMaxJsonDepth + 1. Only
// called after the parser stopped there, so the text up to it is valid JSON
// and brackets inside strings are the only ones to skip.
size_t too_deep_offset(std::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) return i + 1;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return text.size();
}

template <typename J>
bool parse_limited(std::string_view text, J& out, JsonParseError* error) {
  LimitedBuilder<J> builder(out);
  const bool ok = J::sax_parse(text.data(), text.data() + text.size(), &builder);
  if (ok && !builder.failed() && !builder.too_deep()) return true;
  if (error) {
    if (builder.too_deep()) {
      *error = JsonParseError{JsonParseError::Kind::too_deep, too_deep_offset(text), ""};
    } else {
      *error = builder.error();
    }
  }
  out = J();  // drop the partial value
  return false;
}

}  // namespace

std::string JsonParseError::describe(const std::string& at) const {
  switch (kind) {
    case Kind::too_deep:
      return fmt::format("JSON nested too deeply {}: expected at most {} levels of arrays and objects", at,
                         kMaxJsonDepth);
    case Kind::number_out_of_range:
      return fmt::format("number out of range {}: expected a finite number within about +-1.8e308, found {}", at,
                         detail);
    case Kind::syntax:
      break;
  }
  return fmt::format("malformed JSON {}: {}", at, detail);
}

bool parse_json(std::string_view text, nlohmann::json& out, JsonParseError* error) {
  return parse_limited(text, out, error);
}
bool parse_json(std::string_view text, nlohmann::ordered_json& out, JsonParseError* error) {
  return parse_limited(text, out, error);
}

std::string line_and_column(std::string_view text, size_t byte) {
  size_t line = 1, line_start = 0;
  const size_t end = byte == 0 ? 0 : std::min(byte - 1, text.size());
  for (size_t i = 0; i < end; ++i)
    if (text[i] == '\n') ++line, line_start = i + 1;
  return fmt::format("line {}, column {}", line, end - line_start + 1);
}

}  // namespace mds
