using System.Diagnostics;
using Qwen3Gen.Optim;
using Qwen3Gen.Models;

namespace Qwen3Gen.Profiling;

/// <summary>Where the time of one timed call went: the calls that ran through Workers, by job, and the serial rest.</summary>
public sealed record PhaseTimes(string Phase, double Milliseconds, IReadOnlyList<(string Job, double Milliseconds, long Calls)> Jobs)
{
    /// <summary>Time not spent in parallel jobs: serial loops (norms, RoPE, SwiGLU, embedding, residual adds, copies).</summary>
    public double SerialMilliseconds => Milliseconds - Jobs.Sum(j => j.Milliseconds);
}

/// <summary>Best-of-N timing of a workload, with the GC bytes allocated by the timed calls (after warm-up).</summary>
public sealed record WorkloadTiming(double BestMilliseconds, double MedianMilliseconds, int Repetitions, long AllocatedBytesPerCall, IReadOnlyList<PhaseTimes> Phases)
{
    /// <summary>The slowest repetition (with <see cref="BestMilliseconds"/> and <see cref="MedianMilliseconds"/>: the spread).</summary>
    public double WorstMilliseconds { get; init; } = BestMilliseconds;
}

/// <summary>
/// One training step exactly as <see cref="Training.Trainer.TrainStep"/> runs it (zero gradients, forward with loss,
/// backward, global-norm clipping at 1.0, AdamW), on fixed random tokens, so that it can be timed phase by phase.
/// </summary>
public sealed class TrainingStepWorkload : IDisposable
{
    private readonly IQwen3Model _model;
    private readonly AdamW _optimizer;
    private readonly int[] _inputs, _targets;

    public TrainingStepWorkload(IQwen3Model model, int batch, int seqLen, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (model.Weights.Format != WeightFormat.F32) throw new ArgumentException("Training needs F32 weights.", nameof(model));
        _model = model;
        Batch = batch;
        SeqLen = seqLen;
        var random = new Random(seed);
        _inputs = new int[batch * seqLen];
        for (int i = 0; i < _inputs.Length; i++) _inputs[i] = random.Next(model.Config.Vocab);
        _targets = CausalLm.ShiftedTargets(_inputs, batch, seqLen);
        _optimizer = new AdamW(model.Tensors, new AdamWOptions { LearningRate = 1e-4, WeightDecay = 0.1 });
        model.Reserve(batch, seqLen, training: true);
        _ = model.Gradients;
    }

    public int Batch { get; }
    public int SeqLen { get; }
    public int Tokens => Batch * SeqLen;

    /// <summary>One step; returns the loss.</summary>
    public float Step()
    {
        _model.ZeroGradients();
        float loss = _model.Forward(_inputs, _targets, Batch, SeqLen);
        _model.Backward();
        GradientClipping.ClipGlobalNorm(_model.Gradients, 1.0);
        _optimizer.Step(_model.Weights.Data, _model.Gradients);
        return loss;
    }

    /// <summary>Best-of-<paramref name="repetitions"/> step time (after <paramref name="warmup"/> untimed steps); with
    /// <paramref name="profile"/>, a second series breaks the best step into forward, backward and optimizer by job.</summary>
    public WorkloadTiming Measure(int repetitions, int warmup = 2, bool profile = false)
    {
        for (int i = 0; i < warmup; i++) Step();
        var times = new double[repetitions];
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < repetitions; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            Step();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated) / repetitions;
        IReadOnlyList<PhaseTimes> phases = [];
        if (profile)
        {
            double best = double.MaxValue;
            for (int i = 0; i < repetitions; i++)
            {
                using var p = new PhaseProbe();
                _model.ZeroGradients(); p.Lap("zero gradients");
                _model.Forward(_inputs, _targets, Batch, SeqLen); p.Lap("forward");
                _model.Backward(); p.Lap("backward");
                GradientClipping.ClipGlobalNorm(_model.Gradients, 1.0); p.Lap("clip");
                _optimizer.Step(_model.Weights.Data, _model.Gradients); p.Lap("AdamW");
                if (p.Total < best) { best = p.Total; phases = p.Phases; }
            }
        }
        return Summarise(times, allocated, phases);
    }

    internal static WorkloadTiming Summarise(double[] times, long allocated, IReadOnlyList<PhaseTimes> phases)
    {
        var sorted = (double[])times.Clone();
        Array.Sort(sorted);
        return new WorkloadTiming(sorted[0], sorted[sorted.Length / 2], sorted.Length, allocated, phases) { WorstMilliseconds = sorted[^1] };
    }

    public void Dispose() => _optimizer.Dispose();
}

/// <summary>
/// KV-cached inference on fixed random tokens: a prefill of <see cref="PromptLength"/> tokens into an empty cache, then
/// <see cref="DecodeTokens"/> single-token decode steps (greedy argmax feeds the next token, as a generator would).
/// </summary>
public sealed class DecodeWorkload : IDisposable
{
    private readonly IInferenceSession _session;
    private readonly int[] _prompt;

    public DecodeWorkload(IQwen3Model model, int promptLength = 128, int decodeTokens = 32, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(model);
        PromptLength = promptLength;
        DecodeTokens = decodeTokens;
        var random = new Random(seed);
        _prompt = new int[promptLength];
        for (int i = 0; i < _prompt.Length; i++) _prompt[i] = random.Next(model.Config.Vocab);
        _session = model.CreateSession(promptLength + decodeTokens + 1, chunk: promptLength);
    }

    public int PromptLength { get; }
    public int DecodeTokens { get; }

    /// <summary>Empties the cache and prefills the prompt; returns the argmax of the last logits.</summary>
    public int Prefill()
    {
        _session.Rewind(0);
        return ArgMax(_session.Prefill(_prompt));
    }

    /// <summary>Decodes <see cref="DecodeTokens"/> tokens after the prompt (the cache must hold the prompt).</summary>
    public int Decode(int token)
    {
        _session.Rewind(PromptLength);
        for (int i = 0; i < DecodeTokens; i++) token = ArgMax(_session.Decode(token));
        return token;
    }

    /// <summary>Best-of-N prefill time of the whole prompt.</summary>
    public WorkloadTiming MeasurePrefill(int repetitions, int warmup = 1, bool profile = false) =>
        Measure(repetitions, warmup, profile, "prefill", () => Prefill());

    /// <summary>Best-of-N time of <see cref="DecodeTokens"/> decode steps (divide for per-token figures).</summary>
    public WorkloadTiming MeasureDecode(int repetitions, int warmup = 1, bool profile = false)
    {
        int first = Prefill();
        return Measure(repetitions, warmup, profile, "decode", () => Decode(first));
    }

    private static WorkloadTiming Measure(int repetitions, int warmup, bool profile, string name, Action run)
    {
        for (int i = 0; i < warmup; i++) run();
        var times = new double[repetitions];
        long allocated = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < repetitions; i++)
        {
            long t0 = Stopwatch.GetTimestamp();
            run();
            times[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }
        allocated = (GC.GetAllocatedBytesForCurrentThread() - allocated) / repetitions;
        IReadOnlyList<PhaseTimes> phases = [];
        if (profile)
        {
            double best = double.MaxValue;
            for (int i = 0; i < Math.Max(1, repetitions / 2); i++)
            {
                using var p = new PhaseProbe();
                run(); p.Lap(name);
                if (p.Total < best) { best = p.Total; phases = p.Phases; }
            }
        }
        return TrainingStepWorkload.Summarise(times, allocated, phases);
    }

    private static int ArgMax(ReadOnlySpan<float> logits) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits);

    public void Dispose() => _session.Dispose();
}

/// <summary>Laps of a Stopwatch with the <see cref="Profiler"/> counters of each lap (switches the profiler on while alive).</summary>
internal sealed class PhaseProbe : IDisposable
{
    private readonly List<PhaseTimes> _phases = [];
    private long _t0;

    public PhaseProbe()
    {
        Profiler.Enabled = true;
        Profiler.Reset();
        _t0 = Stopwatch.GetTimestamp();
    }

    public IReadOnlyList<PhaseTimes> Phases => _phases;
    public double Total => _phases.Sum(p => p.Milliseconds);

    public void Lap(string phase)
    {
        double ms = Stopwatch.GetElapsedTime(_t0).TotalMilliseconds;
        var jobs = Profiler.Snapshot();
        _phases.Add(new PhaseTimes(phase, ms, jobs));
        Profiler.Enabled = false;
        Profiler.Reset();
        Profiler.Enabled = true;
        _t0 = Stopwatch.GetTimestamp();
    }

    public void Dispose() => Profiler.Enabled = false;
}
