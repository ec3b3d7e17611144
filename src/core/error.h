// Errors. Inside the library, failures are thrown as muchator::Error; at boundaries
// (row validation, requests) they are returned as Status values. `main` catches Error and
// prints one line: what went wrong, where, and what to do.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace muchator {

// A user-facing error: `what` is the problem, `where` a location such as "songs.jsonl:12"
// (may be empty), `hint` what the user can do about it (may be empty).
class Error : public std::runtime_error {
 public:
  explicit Error(std::string what, std::string where = "", std::string hint = "");
  const std::string& problem() const { return problem_; }
  const std::string& where() const { return where_; }
  const std::string& hint() const { return hint_; }

 private:
  std::string problem_, where_, hint_;
};

// The result of an operation at a boundary: ok, or a message saying what was wrong.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string message) { return Status(std::move(message)); }
  bool ok() const { return message_.empty(); }
  const std::string& message() const { return message_; }
  // Throws Error(message, where, hint) when not ok.
  void ThrowIfError(const std::string& where = "", const std::string& hint = "") const;

 private:
  explicit Status(std::string message) : message_(std::move(message)) {
    if (message_.empty()) message_ = "unknown error";
  }
  std::string message_;
};

// Formats an Error as one line: "error: WHERE: WHAT (HINT)".
std::string FormatError(const Error& e);

}  // namespace muchator
