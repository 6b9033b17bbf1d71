using System.Diagnostics;
using Qwen3Gen.Models;

namespace Qwen3Gen.Profiling;

/// <summary>
/// A switchable phase profiler for benchmarks: when <see cref="Enabled"/>, every top-level
/// <see cref="Threading.Workers.For{TJob}(int, TJob)"/> call adds its wall time to the counter of its job type
/// (Gemm.Job = matrix products, MatVec.Job = decode products, AttentionForwardJob, CrossEntropyJob, AdamW's StepJob, ...).
/// Work that does not go through Workers (small serial loops) is the caller's total minus these counters.
/// Off by default; when off the cost is one static field read per parallel call. Counters are process-wide and
/// meant for one measuring thread (the benchmark), read with <see cref="Snapshot"/> and cleared with <see cref="Reset"/>.
/// </summary>
public static class Profiler
{
    private static readonly object Gate = new();
    private static string[] _names = new string[64];
    private static long[] _ticks = new long[64], _calls = new long[64];
    private static int _count;

    /// <summary>Whether parallel calls are timed.</summary>
    public static bool Enabled { get; set; }

    /// <summary>The counter index of job type <typeparamref name="TJob"/> (registered once, on first use).</summary>
    internal static class Slot<TJob>
    {
        public static readonly int Index = Register(NameOf(typeof(TJob)));
    }

    /// <summary>Adds <paramref name="ticks"/> (Stopwatch ticks) to counter <paramref name="index"/>.</summary>
    internal static void Add(int index, long ticks)
    {
        _ticks[index] += ticks;
        _calls[index]++;
    }

    /// <summary>Zeroes every counter.</summary>
    public static void Reset()
    {
        lock (Gate)
        {
            Array.Clear(_ticks);
            Array.Clear(_calls);
        }
    }

    /// <summary>(job name, milliseconds, calls) of every counter that ran since the last <see cref="Reset"/>.</summary>
    public static IReadOnlyList<(string Name, double Milliseconds, long Calls)> Snapshot()
    {
        lock (Gate)
        {
            var list = new List<(string, double, long)>();
            for (int i = 0; i < _count; i++)
                if (_calls[i] > 0) list.Add((_names[i], _ticks[i] * 1000.0 / Stopwatch.Frequency, _calls[i]));
            return list;
        }
    }

    private static int Register(string name)
    {
        lock (Gate)
        {
            for (int i = 0; i < _count; i++)
                if (_names[i] == name) return i;
            if (_count == _names.Length)
            {
                Array.Resize(ref _names, _count * 2);
                Array.Resize(ref _ticks, _count * 2);
                Array.Resize(ref _calls, _count * 2);
            }
            _names[_count] = name;
            return _count++;
        }
    }

    /// <summary>"Gemm.Job", "MatVec.Job", "AttentionForwardJob" (a generated model's jobs without the model's name).</summary>
    private static string NameOf(Type t)
    {
        string name = t.Name;
        int tick = name.IndexOf('`');
        if (tick >= 0) name = name.Substring(0, tick);
        if (t.DeclaringType is { } outer && outer.Namespace == typeof(Profiler).Namespace!.Replace(".Diagnostics", "")
            && outer.GetInterface("IQwen3Model") is null)
            name = outer.Name + "." + name;
        return name;
    }
}
