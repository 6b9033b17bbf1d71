namespace Qwen3Gen.Threading;

/// <summary>A unit of parallel work: runs the outputs with indices [start, end).</summary>
public interface IParallelJob
{
    void Execute(int start, int end);
}

/// <summary>
/// Splits independent outputs over threads. Contract: each index is computed by exactly one worker and
/// its result does not depend on how indices are split, so results are bit-identical for any thread count.
/// </summary>
public static class Workers
{
    private static int _threads = Environment.ProcessorCount;

    /// <summary>Threads used by kernels (default: all cores).</summary>
    public static int Threads
    {
        get => _threads;
        set => _threads = value >= 1 ? value : throw new ArgumentOutOfRangeException(nameof(value), value, "Threads must be at least 1.");
    }

    /// <summary>Runs <paramref name="job"/> over [0, count), split into contiguous chunks.</summary>
    public static void For<TJob>(int count, TJob job) where TJob : struct, IParallelJob
    {
        int threads = Math.Min(_threads, count);
        if (threads <= 1)
        {
            if (count > 0) job.Execute(0, count);
            return;
        }
        System.Threading.Tasks.Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            int start = (int)((long)count * t / threads), end = (int)((long)count * (t + 1) / threads);
            if (end > start) job.Execute(start, end);
        });
    }
}
