# Criterion unit tests: one executable per module, one ctest entry each.
pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion)

# amsi_unit_test(NAME SOURCE LIBS... [LABELS l...])
function(amsi_unit_test name src)
  cmake_parse_arguments(T "" "" "LIBS;LABELS" ${ARGN})
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CRITERION)
  # Test messages format file paths into generous fixed buffers; gcc's -O2 truncation analysis
  # cannot see the sizes and would fail the -Werror build.
  target_compile_options(${name} PRIVATE $<$<C_COMPILER_ID:GNU>:-Wno-format-truncation>)
  target_compile_definitions(${name} PRIVATE
    AMSI_SOURCE_DIR="${CMAKE_SOURCE_DIR}" AMSI_BINARY_DIR="${CMAKE_BINARY_DIR}")
  # Criterion forks a child per test; --jobs keeps the 2-core machine responsive.
  add_test(NAME ${name} COMMAND ${name} --jobs=2 --timeout=60)
  set_tests_properties(${name} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT 300)
endfunction()

# Plain test programs (tests/support/check.h) for the threaded tests, which CI also runs under
# ThreadSanitizer, where Criterion cannot start.
function(amsi_plain_test name src)
  cmake_parse_arguments(T "" "" "LIBS;LABELS" ${ARGN})
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${T_LABELS}" TIMEOUT 300)
endfunction()

# Integration tests: the real binary, driven as a user would, by a script in tests/integration/.
#   amsi_integration_test(NAME SCRIPT [ARGS arg...] [LABELS label...] [TIMEOUT seconds]
#                         [ENV VAR=value...])
# SCRIPT.py runs with python3, SCRIPT.mjs with node's test runner, one test at a time (where node
# is not installed the test is left out). LABELS defaults to "integration", TIMEOUT to 300.
find_program(PYTHON3 python3 REQUIRED)
find_program(NODE node)
function(amsi_integration_test name script)
  cmake_parse_arguments(T "" "TIMEOUT" "ARGS;LABELS;ENV" ${ARGN})
  set(path ${PROJECT_SOURCE_DIR}/tests/integration/${script})
  if(script MATCHES "\\.py$")
    set(command ${PYTHON3} ${path})
  elseif(script MATCHES "\\.mjs$")
    if(NOT NODE)
      return()
    endif()
    set(command ${NODE} --test --test-concurrency=1 ${path})
  else()
    message(FATAL_ERROR "amsi_integration_test(${name}): ${script} is neither .py nor .mjs")
  endif()
  if(NOT T_LABELS)
    set(T_LABELS integration)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${command} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
  if(T_ENV)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${T_ENV}")
  endif()
endfunction()
