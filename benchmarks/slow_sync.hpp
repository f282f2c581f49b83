// A disk with slow fsync, simulated: an SQLite VFS that wraps the default
// one and, while installed as the default, sleeps a fixed time after every
// xSync the real one completes. Everything the process opens through SQLite
// meanwhile (the journal's store and the raw baselines alike) pays the same
// delay per sync, so a run and its baseline see the same slower disk. The
// sync itself still happens: the delay is added to the machine's own.
//
//   { slow_sync slow(std::chrono::microseconds(2000)); ...open and run... }
//
// Files keep the VFS they were opened with: open and close them inside the scope.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <stdexcept>
#include <thread>

namespace dairector::bench {

class slow_sync {
public:
  explicit slow_sync(std::chrono::microseconds delay) {
    base_ = sqlite3_vfs_find(nullptr);
    if (base_ == nullptr) throw std::runtime_error("slow_sync: no default SQLite VFS");
    delay_us() = delay.count();
    vfs_ = *base_;
    vfs_.szOsFile = static_cast<int>(sizeof(file)) + base_->szOsFile;
    vfs_.zName = "dairector-slow-sync";
    vfs_.pAppData = base_;
    vfs_.xOpen = &open;
    if (sqlite3_vfs_register(&vfs_, /*makeDflt=*/1) != SQLITE_OK) throw std::runtime_error("slow_sync: register");
  }
  ~slow_sync() {
    sqlite3_vfs_register(base_, 1);
    sqlite3_vfs_unregister(&vfs_);
  }
  slow_sync(const slow_sync&) = delete;
  slow_sync& operator=(const slow_sync&) = delete;

private:
  struct file {
    sqlite3_file base;    // our methods
    sqlite3_file* real;   // the wrapped VFS's file, right after this struct
  };
  static long long& delay_us() {
    static long long d = 0;
    return d;
  }
  static sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<file*>(f)->real; }

  static int open(sqlite3_vfs* v, const char* name, sqlite3_file* f, int flags, int* out) {
    auto* base = static_cast<sqlite3_vfs*>(v->pAppData);
    auto* w = reinterpret_cast<file*>(f);
    w->real = reinterpret_cast<sqlite3_file*>(w + 1);
    int rc = base->xOpen(base, name, w->real, flags, out);
    if (rc == SQLITE_OK && w->real->pMethods->iVersion < 3) {
      w->real->pMethods->xClose(w->real);
      w->real->pMethods = nullptr;
      rc = SQLITE_CANTOPEN;
    }
    // SQLite calls xClose on a failed open only if pMethods is set.
    w->base.pMethods = w->real->pMethods ? &methods : nullptr;
    return rc;
  }
  static int close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
  static int read(sqlite3_file* f, void* p, int n, sqlite3_int64 o) { return real(f)->pMethods->xRead(real(f), p, n, o); }
  static int write(sqlite3_file* f, const void* p, int n, sqlite3_int64 o) {
    return real(f)->pMethods->xWrite(real(f), p, n, o);
  }
  static int truncate(sqlite3_file* f, sqlite3_int64 s) { return real(f)->pMethods->xTruncate(real(f), s); }
  static int sync(sqlite3_file* f, int flags) {
    const int rc = real(f)->pMethods->xSync(real(f), flags);
    std::this_thread::sleep_for(std::chrono::microseconds(delay_us()));
    return rc;
  }
  static int file_size(sqlite3_file* f, sqlite3_int64* s) { return real(f)->pMethods->xFileSize(real(f), s); }
  static int lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
  static int unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
  static int reserved(sqlite3_file* f, int* r) { return real(f)->pMethods->xCheckReservedLock(real(f), r); }
  static int control(sqlite3_file* f, int op, void* a) { return real(f)->pMethods->xFileControl(real(f), op, a); }
  static int sector(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
  static int device(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
  static int shm_map(sqlite3_file* f, int pg, int sz, int ext, void volatile** pp) {
    return real(f)->pMethods->xShmMap(real(f), pg, sz, ext, pp);
  }
  static int shm_lock(sqlite3_file* f, int o, int n, int fl) { return real(f)->pMethods->xShmLock(real(f), o, n, fl); }
  static void shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
  static int shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
  static int fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** pp) {
    return real(f)->pMethods->xFetch(real(f), o, n, pp);
  }
  static int unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return real(f)->pMethods->xUnfetch(real(f), o, p); }

  // The unix VFS's files are version 3; this wraps that version only.
  static constexpr sqlite3_io_methods methods = {3,         &close,     &read,     &write,    &truncate, &sync,
                                                 &file_size, &lock,      &unlock,   &reserved, &control,  &sector,
                                                 &device,    &shm_map,   &shm_lock, &shm_barrier, &shm_unmap,
                                                 &fetch,     &unfetch};
  sqlite3_vfs* base_ = nullptr;
  sqlite3_vfs vfs_{};
};

}  // namespace dairector::bench
