# apps/examples/consumer with add_subdirectory(Dairector): it configures, and
# only the libraries and the consumer's own programs are targets (no tests,
# benchmarks or `dairector` program, none of their dependencies looked for).
# Configured only: tests/apps/find_package_test.cmake builds and runs the consumer.
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/apps/examples/consumer -B ${WORK_DIR}
                        -DDAIRECTOR_SOURCE=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release -G Ninja
                RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the consumer failed: ${rc}\n${log}")
endif()
# Every target is a `build NAME:` line of the Ninja file.
file(READ ${WORK_DIR}/build.ninja targets)
foreach(unwanted core_tests actors_tests journal_tests reducer_bench dairector dairector_credentials)
  string(FIND "${targets}" "\nbuild ${unwanted}:" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "add_subdirectory builds '${unwanted}'")
  endif()
endforeach()
foreach(wanted quickstart embed dairector_actors dairector_journal dairector_core)
  string(FIND "${targets}" "\nbuild ${wanted}:" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "no target '${wanted}'")
  endif()
endforeach()
file(READ ${WORK_DIR}/CMakeCache.txt cache)
string(FIND "${cache}" "CLI11_DIR:PATH=/" cli11)
if(NOT cli11 EQUAL -1)
  message(FATAL_ERROR "CLI11 was looked for")
endif()
message("only the libraries and the consumer's programs")
