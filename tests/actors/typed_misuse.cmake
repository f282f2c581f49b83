# actors.interfaces_refuse: tests/actors/typed_misuse.cpp compiles as it is,
# and each of its misuses of a typed handle (-DMISUSE=1..4) is a compile error.
# Run with -DCXX=... -DINCLUDES="a;b;c" -DSOURCE=typed_misuse.cpp.
set(flags -std=c++20 -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags -I${dir})
endforeach()
execute_process(COMMAND ${CXX} ${flags} ${SOURCE} RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the right uses do not compile:\n${err}")
endif()
foreach(n 1 2 3 4)
  execute_process(COMMAND ${CXX} ${flags} -DMISUSE=${n} ${SOURCE} RESULT_VARIABLE rc ERROR_VARIABLE err)
  if(rc EQUAL 0)
    message(FATAL_ERROR "misuse ${n} compiles")
  endif()
  # Refused by CAF's type checks, not by a typo in this file.
  if(NOT err MATCHES "request|receive|response_type|static assertion")
    message(FATAL_ERROR "misuse ${n} fails for another reason:\n${err}")
  endif()
endforeach()
message("every misuse refused")
