/*
 * Test-only bcryptprimitives.dll for running the Windows build under Wine 8, which has no
 * such DLL: Rust's standard library imports ProcessPrng from it for its random numbers
 * (HashMap seeds). This one fills the buffer from RtlGenRandom (advapi32's
 * SystemFunction036), which Wine has. Built with mingw by .ci/windows-smoke and placed beside
 * the exe it tests; never shipped: real Windows has the DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
