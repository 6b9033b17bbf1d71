using System.Runtime.InteropServices;

namespace Qwen3Gen.Kernels;

/// <summary>
/// Transparent huge pages for big buffers (weights, KV caches, gradients): on Linux with THP in <c>madvise</c> mode
/// (the default of many distributions) a buffer gets 2 MiB pages only when asked with <c>madvise(MADV_HUGEPAGE)</c>
/// before its first touch. Decode streams every weight once per token: with 4 KiB pages that is one TLB miss and page
/// walk per 4 KiB read (about 300,000 per token for Qwen3-0.6B in BF16), with 2 MiB pages 512 times fewer, and a
/// fresh page costs one fault per 2 MiB instead of one per 4 KiB when the buffer is first cleared.
/// <para>
/// Only an advice: where THP is off, the kernel lacks it, or the OS is not Linux, nothing changes but the alignment.
/// <c>QWEN3GEN_HUGEPAGES=0</c> switches it off (to measure what it brings).
/// </para>
/// </summary>
internal static unsafe partial class HugePages
{
    /// <summary>2 MiB: the x86-64 and ARM64 (4 KiB granule) huge page size.</summary>
    public const long PageBytes = 2L << 20;

    /// <summary>Buffers at least this big are aligned to <see cref="PageBytes"/> and advised (smaller ones would waste the alignment).</summary>
    public const long MinimumBytes = 4L << 20;

    /// <summary>Whether big buffers are advised (Linux, and not switched off by the environment).</summary>
    public static readonly bool Enabled = OperatingSystem.IsLinux() && Environment.GetEnvironmentVariable("QWEN3GEN_HUGEPAGES") != "0";

    /// <summary>The alignment to allocate a buffer of <paramref name="bytes"/> with.</summary>
    public static nuint Alignment(nuint bytes) => Enabled && (long)bytes >= MinimumBytes ? (nuint)PageBytes : 64;

    /// <summary>Asks for huge pages over [pointer, pointer + bytes) when it is big and 2 MiB aligned; call before the first touch.</summary>
    public static void Advise(void* pointer, nuint bytes)
    {
        if (!Enabled || (long)bytes < MinimumBytes || ((nuint)pointer & (nuint)(PageBytes - 1)) != 0) return;
        nuint whole = bytes & ~(nuint)(PageBytes - 1);                     // madvise takes whole pages; the tail keeps 4 KiB ones
        _ = madvise(pointer, whole, MadvHugePage);                          // advice only: an error (EINVAL without THP) changes nothing
    }

    private const int MadvHugePage = 14;

    [LibraryImport("libc", EntryPoint = "madvise")]
    private static partial int madvise(void* address, nuint length, int advice);
}
