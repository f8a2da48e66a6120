#!/usr/bin/env bash
# Lists calls of VkResult-returning Vulkan functions in src/ whose result is not checked.
# A call counts as checked when its line wraps it in EV_VK(...), assigns it to a VkResult,
# or compares it with VK_SUCCESS. A deliberate exception is written `(void)vkX(...)` with a
# comment on the same line saying why. Exit 1 if anything else is found.
set -euo pipefail
cd "$(dirname "$0")/.."
hdr=$(echo '#include <vulkan/vulkan_core.h>' | cpp -H -o /dev/null 2>&1 | awk '/vulkan_core.h/{print $2; exit}')
[ -n "$hdr" ] || hdr=/usr/include/vulkan/vulkan_core.h
fns=$(grep -oE 'VKAPI_ATTR VkResult VKAPI_CALL vk[A-Za-z0-9]+' "$hdr" | awk '{print $4}' | sort -u)
pattern=$(echo "$fns" | paste -sd'|')
bad=$(grep -rnE "\\b($pattern)\\(" src --include=*.c |
      grep -vE 'EV_VK\(|VkResult [a-z_]+ = vk|\br = vk|!= VK_SUCCESS|== VK_SUCCESS' |
      grep -vE '\(void\)vk[A-Za-z]+\(.*/\*' | grep -vE '^[^:]+:[0-9]+: *(/\*|\*|//)' || true)
if [ -n "$bad" ]; then
  echo "unchecked Vulkan calls:"
  echo "$bad"
  exit 1
fi
echo "check_vk_calls: every VkResult-returning Vulkan call in src/ is checked"
