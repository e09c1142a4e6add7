# INPUTS arrives joined with "|" (see CMakeLists.txt).
string(REPLACE "|" ";" INPUTS "${INPUTS}")
# Writes OUT: a C array of the migrations in INPUTS (sorted, numbered
# NNN_name.sql), each as a NUL-terminated string with its version.
set(body "/* generated from the schema migrations; do not edit */\n#include \"schema/schema.h\"\n\n")
set(table "const struct schema_migration schema_migrations[] = {\n")
set(n 0)
foreach(f ${INPUTS})
  get_filename_component(name ${f} NAME)
  string(SUBSTRING ${name} 0 3 ver)
  math(EXPR ver "${ver}")
  file(READ ${f} hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," hex "${hex}")
  string(APPEND body "static const char m${n}[] = {${hex}0x00};\n")
  string(APPEND table "\t{ ${ver}, \"${name}\", m${n} },\n")
  math(EXPR n "${n} + 1")
endforeach()
string(APPEND table "};\nconst int schema_nmigrations = ${n};\n")
file(WRITE ${OUT} "${body}\n${table}")
