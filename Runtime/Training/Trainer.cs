using System.Diagnostics;
using System.Numerics.Tensors;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;
using Qwen3Gen.Optim;
using Qwen3Gen.Training.Lora;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>The outcome of one optimizer step. Loss and Tokens are over all ranks; CommunicationMilliseconds is the time this rank waited on other ranks.</summary>
public readonly record struct StepResult(long Step, float Loss, double LearningRate, double GradientNorm, int Tokens, double Milliseconds, double CommunicationMilliseconds = 0);

/// <summary>
/// Trains a generated model on a token stream: seeded random windows, forward + generated backward,
/// gradient accumulation, global-norm clipping, AdamW with warmup + cosine decay. Everything the next step
/// depends on (weights, AdamW moments and step, sampler state) is in the checkpoint, so a resumed run
/// continues bit-identically.
/// <para>
/// Data parallelism (<see cref="ICommunicator"/> with Size N &gt; 1): one step's global batch is N × GradientAccumulation
/// micro-batches of Batch windows, drawn in order from the one seeded sampler that every rank runs; rank r computes
/// micro-batches r·A … r·A + A − 1 and skips the others' draws, so the sampler state stays the same on every rank. Each
/// rank sums its micro-batches locally, the sums are all-reduced bucket by bucket during the last backward pass
/// (<see cref="GradientReducer"/>), scaled by 1/(N·A), clipped by the global norm and applied by the same AdamW on every rank
/// (or its ZeRO-1 slice, <see cref="ShardedAdamW"/>). With A = 1 this is bit-identical to one process with accumulation
/// N: both compute (((g₀ + g₁) + g₂) + …) · 1/N (docs/distributed.md).
/// </para>
/// </summary>
public sealed unsafe class Trainer : IStepTrainer
{
    private readonly IQwen3Model _model;
    private readonly TextDataset? _data;
    private readonly ConversationDataset? _conversations;
    private readonly IBatchSampler _sampler;
    private readonly LoraAdapter? _lora;
    private readonly AdamW? _optimizer;
    private readonly ShardedAdamW? _sharded;
    private readonly AdamWOptions _adamOptions;
    private readonly LearningRateSchedule _schedule;
    private readonly int[] _inputs, _targets;
    private readonly ICommunicator _comm;
    private readonly GradientReducer _reducer;
    private readonly NativeBuffer<float>? _accumulated;

    /// <summary>Trains on random windows of a text (every next token is a target).</summary>
    /// <param name="communicator">The ranks to train with (null: one process).</param>
    /// <param name="parallel">Overlap and ZeRO-1 settings (null: defaults).</param>
    /// <param name="lora">When given, only these adapters train (see <see cref="LoraAdapter"/>); null: every weight.</param>
    public Trainer(IQwen3Model model, TextDataset data, TrainingOptions options, ICommunicator? communicator = null, DataParallelOptions? parallel = null,
                   LoraAdapter? lora = null)
        : this(model, options, data.VocabularyNeeded, new WindowSampler(data.Train, options.Batch, options.Context, options.Seed), communicator, parallel, lora)
    {
        _data = data;
    }

    /// <summary>Trains on whole conversations, one per batch row, with the loss on the assistant's tokens only.</summary>
    public Trainer(IQwen3Model model, ConversationDataset data, TrainingOptions options, ICommunicator? communicator = null, DataParallelOptions? parallel = null,
                   LoraAdapter? lora = null)
        : this(model, options, data.VocabularyNeeded, new ConversationSampler(data.Train, options.Batch, options.Context, options.Seed), communicator, parallel, lora)
    {
        _conversations = data;
    }

    private Trainer(IQwen3Model model, TrainingOptions options, int vocabularyNeeded, IBatchSampler sampler, ICommunicator? communicator,
                    DataParallelOptions? parallel, LoraAdapter? lora)
    {
        options.Validate();
        if (model.Weights.Format != WeightFormat.F32 && !(lora is not null && model.Weights.Format == WeightFormat.BF16))
            throw new ArgumentException("Training needs F32 weights (a LoRA run's frozen base may be BF16).", nameof(model));
        if (vocabularyNeeded > model.Config.Vocab)
            throw new ArgumentException($"The data has token ids up to {vocabularyNeeded - 1}, beyond the model's vocabulary of {model.Config.Vocab}.", nameof(model));
        _model = model;
        Options = options;
        _sampler = sampler;
        _lora = lora;
        _comm = communicator ?? SingleProcessCommunicator.Instance;
        Parallel = parallel ?? new DataParallelOptions();
        _adamOptions = options.AdamW();
        if (lora is not null && Parallel.ShardOptimizer) throw new ArgumentException("LoRA trains with a whole AdamW on every rank: turn ZeRO-1 sharding off.", nameof(lora));
        if (Parallel.ShardOptimizer) _sharded = new ShardedAdamW(_comm, model.Tensors, _adamOptions);
        else _optimizer = new AdamW(lora?.Tensors ?? model.Tensors, _adamOptions);
        _reducer = new GradientReducer(_comm, model);
        // LoRA: the adapters ride on the generated passes and the base is frozen, so no gradient of the model exists to
        // reduce or accumulate (the adapters' own gradients add up across micro-batches and are all-reduced whole).
        model.Adapters = lora;
        model.BackwardHook = Parallel.Overlap && lora is null ? _reducer : null;
        if (options.GradientAccumulation > 1 && lora is null) _accumulated = new NativeBuffer<float>(model.Weights.Count);
        _schedule = options.Schedule();
        _inputs = new int[options.Batch * options.Context];
        _targets = new int[options.Batch * options.Context];
        model.Reserve(options.Batch, options.Context, training: true);
    }

    public TrainingOptions Options { get; }

    public DataParallelOptions Parallel { get; }

    public IQwen3Model Model => _model;

    /// <summary>The LoRA adapters being trained, or null for a full fine-tune.</summary>
    public LoraAdapter? Lora => _lora;

    /// <summary>The ranks this trainer runs on.</summary>
    public ICommunicator Communicator => _comm;

    /// <summary>Tokenizer files and generation_config.json written into every checkpoint (null: weights, config and state only).</summary>
    public ModelFiles? Files { get; set; }

    /// <summary>The gradient buckets, in the order their reductions start.</summary>
    public IReadOnlyList<GradientBucket> Buckets => _reducer.Buckets;

    /// <summary>Optimizer steps completed.</summary>
    public long Step => _optimizer?.StepCount ?? _sharded!.StepCount;

    /// <summary>One optimizer step over N ranks × GradientAccumulation micro-batches; returns the mean micro-batch loss over all of them.</summary>
    public StepResult TrainStep()
    {
        var clock = Stopwatch.StartNew();
        int accumulation = Options.GradientAccumulation, ranks = _comm.Size;
        double lossSum = 0;
        _sampler.Skip(_comm.Rank * accumulation);                                   // the micro-batches of lower ranks
        NativeBuffer<float> gradients;
        TimeSpan communication;
        if (_lora is not null)
        {
            gradients = _lora.Gradients;
            _lora.ZeroGradients();
            for (int micro = 0; micro < accumulation; micro++)
            {
                _sampler.Next(_inputs, _targets);
                lossSum += _model.Forward(_inputs, _targets, Options.Batch, Options.Context);
                _model.Backward();                                                  // adds ∂L/∂A, ∂L/∂B into the adapters' gradients
            }
            _sampler.Skip((ranks - 1 - _comm.Rank) * accumulation);
            long reduceStart = Stopwatch.GetTimestamp();
            if (ranks > 1) _comm.AllReduceSum(gradients.Pointer, gradients.Length);
            communication = Stopwatch.GetElapsedTime(reduceStart);
        }
        else
        {
            gradients = _model.Gradients;
            communication = AccumulateFullGradients(accumulation, ranks, ref lossSum);
        }
        return Update(gradients, lossSum, communication, clock);
    }

    /// <summary>The micro-batches of a full fine-tune: gradients summed locally, then reduced over the ranks bucket by bucket.</summary>
    private TimeSpan AccumulateFullGradients(int accumulation, int ranks, ref double lossSum)
    {
        var gradients = _model.Gradients;
        for (int micro = 0; micro < accumulation; micro++)
        {
            bool last = micro == accumulation - 1;
            _model.ZeroGradients();
            _sampler.Next(_inputs, _targets);
            if (last) _reducer.Arm(gradients.Pointer, accumulation > 1 ? _accumulated!.Pointer : null);
            lossSum += _model.Forward(_inputs, _targets, Options.Batch, Options.Context);
            _model.Backward();                                                      // the last one starts the reductions as parts finish
            if (last) break;
            if (micro == 0) Buffer.MemoryCopy(gradients.Pointer, _accumulated!.Pointer, gradients.Length * 4, gradients.Length * 4);
            else Add(_accumulated!, gradients);                                     // acc ← acc + g, micro-batches in order
        }
        _sampler.Skip((ranks - 1 - _comm.Rank) * accumulation);                     // the micro-batches of higher ranks
        return _reducer.Finish();
    }

    /// <summary>Mean over the micro-batches, clipping and the AdamW step, on the full gradient or the adapters'.</summary>
    private StepResult Update(NativeBuffer<float> gradients, double lossSum, TimeSpan communication, Stopwatch clock)
    {
        int ranks = _comm.Size, accumulation = Options.GradientAccumulation;
        long statsStart = Stopwatch.GetTimestamp();
        Span<double> loss = [lossSum];
        _comm.AllReduceSum(loss);
        communication += Stopwatch.GetElapsedTime(statsStart);
        int micros = ranks * accumulation;
        if (micros > 1) Scale(gradients, 1f / micros);                              // mean over micro-batches = the big batch's mean
        double norm = Options.GradientClip > 0
            ? GradientClipping.ClipGlobalNorm(gradients, Options.GradientClip)
            : GradientClipping.GlobalNorm(gradients);
        double lr = _schedule.At(Step);
        if (_optimizer is not null)
        {
            _optimizer.LearningRate = lr;
            _optimizer.Step(_lora?.Parameters ?? _model.Weights.Data, gradients);
        }
        else
        {
            _sharded!.LearningRate = lr;
            communication += _sharded.Step(_model.Weights.Data.Pointer, gradients.Pointer);
        }
        return new StepResult(Step, (float)(loss[0] / micros), lr, norm, Options.Batch * Options.Context * micros, clock.Elapsed.TotalMilliseconds,
                              ranks > 1 ? communication.TotalMilliseconds : 0);
    }

    /// <summary>Whether any rank asks to stop (Ctrl+C, SIGTERM) before the next step: every rank must stop at the same step.</summary>
    public bool AgreeToStop(bool stopHere)
    {
        if (_comm.Size == 1) return stopHere;
        Span<double> flag = [stopHere ? 1 : 0];
        _comm.AllReduceSum(flag);
        return flag[0] > 0;
    }

    /// <summary>Mean cross-entropy over every target of the validation split (text: consecutive windows; chat: every assistant token), token-weighted.</summary>
    public float EvaluateValidation() => _data is not null ? Evaluate(_data.Validation) : EvaluateExamples(_conversations!.Validation);

    /// <summary>Mean cross-entropy over every trained (assistant) target of <paramref name="examples"/>, token-weighted; ranks share the batches.</summary>
    public float EvaluateExamples(IReadOnlyList<TrainingExample> examples) =>
        ValidationLoss.Examples(examples, Options.Batch, Options.Context, _comm, (inputs, targets) => _model.Forward(inputs, targets, Options.Batch, Options.Context));

    /// <summary>Mean cross-entropy over every target of <paramref name="tokens"/>; with several ranks each evaluates every N-th batch.</summary>
    public float Evaluate(ReadOnlyMemory<int> tokens) =>
        ValidationLoss.Text(tokens, Options.Batch, Options.Context, _comm, (inputs, targets) => _model.Forward(inputs, targets, Options.Batch, Options.Context));

    /// <summary>Routed rows per expert of sparse layer <paramref name="layer"/> in the last training micro-batch of every rank, summed.</summary>
    public long[] ExpertLoad(IMoeModel moe, int layer)
    {
        var local = moe.ExpertLoad(layer);
        var sum = local.Select(n => (double)n).ToArray();
        _comm.AllReduceSum(sum);
        return sum.Select(x => (long)x).ToArray();
    }

    /// <summary>The last micro-batch's aux loss, averaged over the ranks (each rank's is computed over its own micro-batch, as Hugging Face does per forward call).</summary>
    public float AuxLoss(IMoeModel moe)
    {
        Span<double> aux = [moe.AuxLoss];
        _comm.AllReduceSum(aux);
        return (float)(aux[0] / _comm.Size);
    }

    private static void Add(NativeBuffer<float> sum, NativeBuffer<float> addend)
    {
        for (long start = 0; start < sum.Length; start += int.MaxValue / 2)
        {
            int n = (int)Math.Min(int.MaxValue / 2, sum.Length - start);
            var span = sum.Slice(start, n);
            TensorPrimitives.Add(span, addend.Slice(start, n), span);
        }
    }

    private static void Scale(NativeBuffer<float> buffer, float factor)
    {
        for (long start = 0; start < buffer.Length; start += int.MaxValue / 2)
        {
            var span = buffer.Slice(start, (int)Math.Min(int.MaxValue / 2, buffer.Length - start));
            TensorPrimitives.Multiply(span, factor, span);
        }
    }

    /// <summary>
    /// Saves weights, optimizer and sampler state (see <see cref="TrainingCheckpoint"/>). Every rank calls it; rank 0
    /// writes (ZeRO-1: after gathering the moments' slices). A failure on rank 0 is raised on every rank.
    /// </summary>
    public void Save(string directory)
    {
        CheckRanksAgree();
        Exception? error = null;
        AdamW? gathered = _sharded is not null && _comm.Rank == 0 ? new AdamW(_model.Tensors, _adamOptions) : null;
        try
        {
            _sharded?.GatherTo(gathered, root: 0);
            if (_comm.Rank == 0)
            {
                try { TrainingCheckpoint.Save(directory, _model, _optimizer ?? gathered!, _sampler, Options, Files, lora: _lora); }
                catch (Exception e) when (_comm.Size > 1) { error = e; }
            }
        }
        finally { gathered?.Dispose(); }
        AgreeOnRootOutcome(error, $"saving the checkpoint in '{directory}'");
    }

    /// <summary><see cref="Save(string)"/> through <paramref name="fileSystem"/> (tests inject failures there).</summary>
    public void Save(string directory, CheckpointFileSystem fileSystem) => TrainingCheckpoint.Save(directory, _model,
        _optimizer ?? throw new InvalidOperationException("Saving through a test file system needs the whole optimizer state (no ZeRO sharding)."), _sampler, Options, Files, fileSystem, _lora);

    /// <summary>
    /// Restores a checkpoint written by <see cref="Save"/> for this model and these options. Rank 0 reads it and sends
    /// weights, moments, step and sampler state to the other ranks, so the ranks need not share a file system; the
    /// state does not depend on the number of ranks, so a run may resume on another N. A LoRA run keeps its frozen base
    /// and its adapters as they are (the caller loads both: the base from its snapshot, the adapters from the checkpoint).
    /// </summary>
    public void Load(string directory)
    {
        if (_comm.Size == 1 && _optimizer is not null)
        {
            TrainingCheckpoint.Load(directory, _model, _optimizer, _sampler, Options, loadWeights: _lora is null);
            return;
        }
        using var full = _optimizer is null ? new AdamW(_model.Tensors, _adamOptions) : null;
        var target = _optimizer ?? full!;
        Exception? error = null;
        if (_comm.Rank == 0)
        {
            try { TrainingCheckpoint.Load(directory, _model, target, _sampler, Options, loadWeights: _lora is null); }
            catch (Exception e) { error = e; }
        }
        AgreeOnRootOutcome(error, $"loading the checkpoint in '{directory}'");
        var weights = TrainedParameters;
        _comm.Broadcast(weights.Pointer, weights.Length * 4, root: 0);
        _comm.Broadcast(target.M.Pointer, target.M.Length * 4, root: 0);
        _comm.Broadcast(target.V.Pointer, target.V.Length * 4, root: 0);
        var rng = _sampler.State;
        Span<ulong> state = [(ulong)target.StepCount, rng.S0, rng.S1, rng.S2, rng.S3];
        fixed (ulong* p = state) _comm.Broadcast(p, state.Length * 8, root: 0);
        target.StepCount = (long)state[0];
        _sampler.State = new Sampling.RngState(state[1], state[2], state[3], state[4]);
        _sharded?.LoadFrom(target);
    }

    /// <summary>Makes every rank start from rank 0's weights (after a seeded initialisation they are equal already; this guards against any drift).</summary>
    public void SynchronizeWeights()
    {
        if (_comm.Size == 1) return;
        var weights = TrainedParameters;
        _comm.Broadcast(weights.Pointer, weights.Length * 4, root: 0);
    }

    /// <summary>What the optimizer updates: the model's weights, or the adapters' with LoRA.</summary>
    private NativeBuffer<float> TrainedParameters => _lora?.Parameters ?? _model.Weights.Data;

    /// <summary>
    /// Throws if the ranks' parameters differ (they must be bit-identical: every rank applies the same update). Each rank
    /// hashes its weights (FNV-1a over the bits) and the ranks compare the hashes, in three 21-bit parts so the sum of
    /// doubles is exact: equal on all ranks ⇔ Σ part = Size · part for every part.
    /// </summary>
    public void CheckRanksAgree()
    {
        if (_comm.Size == 1) return;
        var weights = TrainedParameters;
        ulong hash = 14695981039346656037;
        uint* bits = (uint*)weights.Pointer;
        for (long i = 0; i < weights.Length; i++) hash = (hash ^ bits[i]) * 1099511628211;
        Span<double> parts = [hash & 0x1FFFFF, (hash >> 21) & 0x1FFFFF, hash >> 42];
        Span<double> sums = [parts[0], parts[1], parts[2]];
        _comm.AllReduceSum(sums);
        for (int k = 0; k < 3; k++)
            if (sums[k] != parts[k] * _comm.Size)
                throw new InvalidOperationException($"Rank {_comm.Rank}: the ranks' parameters differ at step {Step} (weight hashes disagree); the all-reduce did not give every rank the same sums.");
    }

    private void AgreeOnRootOutcome(Exception? error, string what) => AgreeOnRootOutcome(_comm, error, what);

    /// <summary>Rank 0 tells every rank whether its part (saving, loading) worked; a failure is thrown on every rank.</summary>
    internal static void AgreeOnRootOutcome(ICommunicator comm, Exception? error, string what)
    {
        if (comm.Size > 1)
        {
            Span<double> failed = [error is null ? 0 : 1];
            comm.AllReduceSum(failed);
            if (failed[0] > 0 && error is null) throw new IOException($"Rank 0 failed {what}; see its error.");
        }
        if (error is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(error);
    }

    public void Dispose()
    {
        _model.BackwardHook = null;
        if (_lora is not null) _model.Adapters = null;
        _reducer.Dispose();
        _optimizer?.Dispose();
        _sharded?.Dispose();
        _accumulated?.Dispose();
    }
}
