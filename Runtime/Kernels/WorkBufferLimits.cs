using System.Globalization;
using Qwen3Gen.Models;

namespace Qwen3Gen.Kernels;

/// <summary>
/// The limits on work buffers sized from run-time values (batch, sequence length, context, parallel slots, cache
/// format), checked before anything is allocated: token rows per call fit an int (the row count every kernel takes),
/// and the exact bytes of the buffers (a dry run on an <see cref="Arena.Planner"/>, in checked arithmetic) fit the
/// memory this machine has free. A request past either is an <see cref="ArgumentOutOfRangeException"/> naming the
/// request, the value and the limit, never an overflow deep inside, a wrapped size or an allocation that ends in the
/// OOM killer.
/// </summary>
public static class WorkBufferLimits
{
    /// <summary>Token rows (batch × sequence length) one call may hold.</summary>
    public const long MaxRows = int.MaxValue;

    /// <param name="plannedBytes">The buffers' bytes, or null when counting them overflowed a long.</param>
    /// <param name="rows">Token rows per call (batch × sequence length), in a long.</param>
    /// <param name="paramName">The argument that sized the request (what the exception names).</param>
    /// <param name="value">That argument's value.</param>
    /// <param name="request">The call with its arguments, e.g. "Reserve(batch 8, seqLen 2048, training)".</param>
    /// <param name="availableBytes">Free memory; defaults to <see cref="MemoryBudget.AvailableBytes"/>.</param>
    public static void Check(long? plannedBytes, long rows, string paramName, long value, string request, long? availableBytes = null)
    {
        var c = CultureInfo.InvariantCulture;
        if (rows > MaxRows)
            throw new ArgumentOutOfRangeException(paramName, value,
                string.Format(c, "{0}: {1} token rows per call exceed the limit of {2} (rows are counted in an int).", request, rows, MaxRows));
        long available = availableBytes ?? MemoryBudget.AvailableBytes();
        if (plannedBytes is not long bytes)
            throw new ArgumentOutOfRangeException(paramName, value,
                string.Format(c, "{0}: the work buffers would need more bytes than a 64-bit size counts; the limit is the {1} bytes of memory available.", request, available));
        if (bytes > available)
            throw new ArgumentOutOfRangeException(paramName, value,
                string.Format(c, "{0}: the work buffers need {1} bytes ({2:0.0} GB), more than the {3} bytes ({4:0.0} GB) of memory available.",
                              request, bytes, bytes / 1e9, available, available / 1e9));
    }
}
