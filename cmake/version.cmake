# Writes core/version.hpp from src/core/version.hpp.in. Run at every build
# (a custom target), so a new commit or a dirty tree changes `--version`
# without reconfiguring; the header is only rewritten when its text changes,
# so nothing recompiles otherwise.
#   -DSRC=<source dir> -DIN=<template> -DOUT=<header> -DPOPBOX_VERSION=<x.y.z>
#   -DPOPBOX_GIT_COMMIT=<commit>  (optional: given, it wins over git)
if("${POPBOX_GIT_COMMIT}" STREQUAL "")
  set(POPBOX_GIT_COMMIT "unknown")
  find_program(git_exe git)
  if(git_exe)
    # Only the source tree's own repository counts: a source package
    # unpacked inside some other checkout must not report that one's commit.
    execute_process(COMMAND ${git_exe} -C ${SRC} rev-parse --show-toplevel
                    OUTPUT_VARIABLE top OUTPUT_STRIP_TRAILING_WHITESPACE
                    RESULT_VARIABLE top_rc ERROR_QUIET)
    if(top_rc EQUAL 0)
      file(REAL_PATH "${top}" top)
      file(REAL_PATH "${SRC}" src_real)
    endif()
    if(top_rc EQUAL 0 AND top STREQUAL src_real)
      execute_process(COMMAND ${git_exe} -C ${SRC} describe --always --dirty --abbrev=12
                      OUTPUT_VARIABLE described OUTPUT_STRIP_TRAILING_WHITESPACE
                      RESULT_VARIABLE rc ERROR_QUIET)
      if(rc EQUAL 0 AND described)
        set(POPBOX_GIT_COMMIT "${described}")
      endif()
    endif()
  endif()
endif()
# It ends up in a C++ string literal: keep the characters a commit or tag uses.
string(REGEX REPLACE "[^A-Za-z0-9._+~-]" "" POPBOX_GIT_COMMIT "${POPBOX_GIT_COMMIT}")
configure_file(${IN} ${OUT} @ONLY)
