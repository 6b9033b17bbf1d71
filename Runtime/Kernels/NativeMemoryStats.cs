namespace Qwen3Gen.Kernels;

/// <summary>
/// Bytes held in <see cref="NativeBuffer{T}"/>s (weights, gradients, optimizer state, work buffers): live now, the peak so
/// far, and what the calling thread has allocated (so a test can measure what one call allocates while other tests run).
/// Buffers are allocated rarely (once per model or run), so the bookkeeping costs nothing measurable.
/// </summary>
public static class NativeMemoryStats
{
    private static long _live, _peak;

    [ThreadStatic] private static long _thread;

    /// <summary>Bytes in buffers not yet disposed, process-wide.</summary>
    public static long LiveBytes => Interlocked.Read(ref _live);

    /// <summary>The largest <see cref="LiveBytes"/> so far (since the last <see cref="ResetPeak"/>).</summary>
    public static long PeakBytes => Interlocked.Read(ref _peak);

    /// <summary>Bytes of every buffer the calling thread has allocated (never decreases).</summary>
    public static long AllocatedOnThisThread => _thread;

    /// <summary>Sets the peak to what is live now.</summary>
    public static void ResetPeak() => Interlocked.Exchange(ref _peak, LiveBytes);

    internal static void Allocated(long bytes)
    {
        _thread += bytes;
        long live = Interlocked.Add(ref _live, bytes), peak;
        while (live > (peak = Interlocked.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, live, peak) != peak) { }
    }

    internal static void Freed(long bytes) => Interlocked.Add(ref _live, -bytes);
}
