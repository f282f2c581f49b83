# What cmake/embed_text.cmake and cmake/embed_web.cmake share: a file as the
# body of a C++ byte array, and writing a generated source only when it
# changed (so that an unchanged input compiles nothing).

# embed_bytes(FILE BODY_VAR SIZE_VAR): "0xNN," per byte of FILE, 20 to a
# line, then a trailing 0 that keeps an empty file's array legal; and the
# file's size in bytes.
function(embed_bytes file body_var size_var)
  file(READ "${file}" hex HEX)
  string(LENGTH "${hex}" hex_chars)
  math(EXPR size "${hex_chars} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," body "${hex}")
  string(REPEAT "0x..," 20 line)  # (CMake's regular expressions have no {n})
  string(REGEX REPLACE "(${line})" "\\1\n  " body "${body}")
  set(${body_var} "${body}0" PARENT_SCOPE)
  set(${size_var} "${size}" PARENT_SCOPE)
endfunction()

# write_if_changed(OUT TEXT)
function(write_if_changed out text)
  if(EXISTS "${out}")
    file(READ "${out}" old)
    if(old STREQUAL text)
      return()
    endif()
  endif()
  file(WRITE "${out}" "${text}")
endfunction()
