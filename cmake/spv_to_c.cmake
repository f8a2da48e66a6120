# cmake -DSPV=x.spv -DOUT=x.spv.c -DNAME=x -P spv_to_c.cmake
file(READ ${SPV} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR words "${n} / 8")
# SPIR-V is little-endian 32-bit words on every host we build for: emit bytes as words
string(REGEX REPLACE "([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])([0-9a-f][0-9a-f])"
       "0x\\4\\3\\2\\1u," body "${hex}")
string(REGEX REPLACE "(0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,0x[0-9a-f]+u,)"
       "\\1\n" body "${body}")
file(WRITE ${OUT}.tmp "#include <stddef.h>\n#include <stdint.h>\nconst uint32_t ev_spv_${NAME}[] = {\n${body}\n};\nconst size_t ev_spv_${NAME}_size = ${words} * 4;\n")
file(RENAME ${OUT}.tmp ${OUT})
