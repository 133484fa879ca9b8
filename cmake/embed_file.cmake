# cmake -DIN=file -DOUT=file.cpp -DNAMESPACE=ns -DFUNCTION=name -P embed_file.cmake
# Writes OUT defining `std::string_view ns::name()` returning the bytes of IN
# (a char array, so any content and any size compile).
file(READ "${IN}" hex HEX)
string(LENGTH "${hex}" hex_length)
math(EXPR length "${hex_length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${hex}")
string(REGEX REPLACE "(('\\\\x[0-9a-f][0-9a-f]',){16})" "\\1\n" bytes "${bytes}")
set(text "// Generated from ${IN} by cmake/embed_file.cmake; do not edit.\n#include <string_view>\n\nnamespace ${NAMESPACE} {\nnamespace {\nconst char data[] = {\n${bytes}0};\n}  // namespace\nstd::string_view ${FUNCTION}() {\n  return std::string_view(data, ${length});\n}\n}  // namespace ${NAMESPACE}\n")
if(EXISTS "${OUT}")
  file(READ "${OUT}" old)
endif()
if(NOT "${old}" STREQUAL "${text}")
  file(WRITE "${OUT}" "${text}")
endif()
