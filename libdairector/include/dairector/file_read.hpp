// The one way files from outside are read (a spec, a token file): at most a
// stated number of bytes, and only a regular file, so that `check /dev/zero`
// cannot fill memory and a FIFO nobody writes to cannot hang the reader.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "dairector/result.hpp"

namespace dairector {

/// The contents of the regular file `path`, which must hold at most
/// `bytes_max` bytes. Refuses (with `code`) a path that cannot be opened, one
/// that is a FIFO, a device, a socket or a directory (opened without
/// blocking, never read), and a file past the bound (read up to the bound
/// plus one byte, whatever its size claims). `what` names the file in
/// messages: "x.json: cannot open the spec file (No such file or directory)".
result<std::string> read_file(const std::string& path, std::size_t bytes_max, std::string_view what,
                              errc code);

}  // namespace dairector
