// A thin RAII layer over the SQLite C API, private to src/data (no SQL outside this folder).
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace muchator::sql {

class Db;

// A prepared statement. Bind parameters are 1-based, columns 0-based, as in SQLite.
class Stmt {
 public:
  Stmt(Db& db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int i, int64_t v);
  Stmt& Bind(int i, int v) { return Bind(i, static_cast<int64_t>(v)); }
  Stmt& Bind(int i, double v);
  Stmt& Bind(int i, std::string_view v);  // the text is copied (SQLITE_TRANSIENT)
  Stmt& Bind(int i, const char* v) { return Bind(i, std::string_view(v)); }
  Stmt& Bind(int i, const std::string& v) { return Bind(i, std::string_view(v)); }
  Stmt& BindNull(int i);
  // Steps once: true when a row is available, false when done. Throws Error on failure.
  bool Step();
  // Steps until done and resets, for INSERT/UPDATE/DELETE.
  void Run();
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  int columns() const { return sqlite3_column_count(stmt_); }
  std::string Text(int col) const;

 private:
  Db& db_;
  sqlite3_stmt* stmt_ = nullptr;
};

class Db {
 public:
  Db(const std::string& path, bool read_only);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void Exec(const std::string& sql);
  sqlite3* handle() { return db_; }
  const std::string& path() const { return path_; }
  [[noreturn]] void Fail(const std::string& what);

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

}  // namespace muchator::sql
