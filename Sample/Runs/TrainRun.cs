using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Qwen3Gen.Distributed;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;
using Qwen3Gen.TensorParallel;
using Qwen3Gen.Threading;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Training.Lora;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Runs;

/// <summary>
/// One `qwen3gen train` run, without the console: build the model, start from random weights or a checkpoint, step the
/// trainer (<see cref="Trainer"/>, or with --tensor-parallel <see cref="TensorParallelDatasetTrainer"/>) to the target
/// step, evaluate on the whole validation split and sample text every EvalInterval steps, checkpoint every
/// CheckpointInterval steps, and on cancellation finish the current step, save and stop.
/// Under mpirun every rank runs this with its communicator: all ranks train, evaluate (each a share of the validation
/// batches) and take part in saves; rank 0 alone checks the run folder, reports, samples text and writes files.
/// </summary>
internal static class TrainRun
{
    /// <summary>The prompt of the evaluation samples: a newline, as nanoGPT's sample.py starts.</summary>
    public const string SamplePrompt = "\n";

    /// <summary>nanoGPT's sample.py settings: temperature 0.8, top-k 200.</summary>
    public static SamplingOptions SampleSampling(ulong seed) => new() { Temperature = 0.8f, TopK = 200, Seed = seed };

    public static TrainSummary Execute(TrainSettings settings, ITrainingProgress progress, CancellationToken stop, ICommunicator? communicator = null)
    {
        var comm = communicator ?? SingleProcessCommunicator.Instance;
        bool root = comm.Rank == 0;
        settings.Validate();
        var wall = Stopwatch.StartNew();
        Workers.Threads = settings.Threads;
        var start = StartingPoint.For(settings);
        var definition = start.Definition;
        var tokenizer = start.Tokenizer;
        if (definition.Config.Vocab < tokenizer.VocabSize)
            throw new ArgumentException($"--tokenizer {start.TokenizerName} has {tokenizer.VocabSize} ids but {definition.Name} has a vocabulary of {definition.Config.Vocab}; " +
                                        (start.TokenizerName == "qwen3" ? "use a full-vocabulary model such as Qwen3FullVocab." : "pick a larger model."));
        var options = settings.Training;
        if (options.Context > definition.Config.MaxPositions)
            throw new ArgumentException($"--context ({options.Context}) exceeds {definition.Name}'s max_position_embeddings ({definition.Config.MaxPositions}).");

        int ways = settings.TensorParallel;
        if (ways > 1) CheckTensorParallel(definition, ways, comm);

        // Refuse before allocating: weights, gradients, AdamW moments, activations and logits, from the hyper-parameters
        // (of one whole model: a tensor-parallel rank's share is not estimated).
        if (settings.GradientCheckpointing && definition.Config.IsMoe)
            throw new ArgumentException($"--gradient-checkpointing is implemented for dense models; {definition.Name} is a MoE.");
        TrainingMemory? memory = ways > 1 ? null : TrainingMemory.For(definition.Config, options.Batch, options.Context, settings.GradientCheckpointing);
        if (settings.Lora is not null)
        {
            if (start.Weights is null) throw new ArgumentException("LoRA (--lora-rank) adapts a trained model: give --init-from with its snapshot or checkpoint.");
            settings.Lora.Validate();
            var (adapterCount, _) = LoraAdapter.Size(definition.Config, settings.Lora);
            memory = memory!.Lora(definition.Config, adapterCount, settings.Lora.Rank, settings.LoraBase, options.Batch, options.Context);
        }
        if (memory?.Shortfall($"Training {definition.Name} (batch {options.Batch} × context {options.Context})", settings.AvailableBytes ?? MemoryBudget.AvailableBytes()) is string shortfall)
            throw new InsufficientMemoryException(shortfall);
        long processBefore = Environment.WorkingSet;                              // the runtime and the tokenizer, before the run allocates

        // One process per run folder: a second one would interleave its checkpoints with ours. Then what interrupted
        // saves left behind (stray temp folders, each a full model + optimizer state) is removed. Rank 0 owns the folder.
        using var runLock = root ? RunFolderLock.Acquire(settings.Out) : null;
        if (root)
            foreach (var stray in TrainingCheckpoint.CleanStrays(settings.Out))
                progress.Info($"Removed {stray}, left by an interrupted save.");

        string? existing = root ? TrainingCheckpoint.Find(settings.Out) : null;
        if (root && settings.Resume && existing is null)
            throw new ArgumentException($"--resume: no checkpoint in '{settings.Out}' (expected a complete {Path.Combine(settings.Out, TrainingCheckpoint.FolderName)}); run without --resume to start afresh.");
        if (root && !settings.Resume && !settings.Overwrite && existing is not null)
            throw new ArgumentException($"'{settings.Out}' already holds a checkpoint ({existing}): pass --resume to continue it, --overwrite to start afresh, or another --out.");
        if (settings.Resume)
        {
            // Rank 0 reads the checkpoint's step and warmup; the other ranks receive them (a sum where they add 0).
            Span<double> checkpoint = [0, 0];
            if (root)
            {
                var info = TrainingCheckpoint.ReadInfo(existing!);
                checkpoint[0] = info.Step;
                checkpoint[1] = info.Options.WarmupSteps;
            }
            if (comm.Size > 1) comm.AllReduceSum(checkpoint);
            long savedStep = (long)checkpoint[0];
            if (options.Steps <= savedStep)
                throw new ArgumentException($"--steps ({options.Steps}) must exceed the checkpoint's step ({savedStep}) in {existing}: --steps is the total to reach, counting the steps already done.");
            // An implicit warmup depends on --steps; the run keeps the one it started with, so extending it works.
            if (!settings.WarmupGiven) options = options with { WarmupSteps = (int)checkpoint[1] };
        }

        var data = Corpus.Load(settings.Data, tokenizer, options.Context);
        using var setup = ways > 1 ? TensorParallelSetup(settings, start, options, data, comm, existing, progress)
                                   : OneModelSetup(settings, start, options, data, comm, existing, progress);
        var trainer = setup.Trainer;
        long parameters = setup.Parameters, resumedFrom = trainer.Step;
        if (memory is not null)
            progress.Info($"Memory: {definition.Name} with batch {options.Batch} × context {options.Context} {memory.Describe()}; " +
                          $"the process held {processBefore / 1e9:0.00} GB before (runtime, tokenizer), so its peak should be about {(memory.Total + processBefore) / 1e9:0.00} GB.");
        progress.Info($"{definition.Name}: {parameters:N0} parameters; {start.TokenizerName} tokens: {data.Description}; " +
                      $"batch {options.Batch} × context {options.Context} × accumulation {options.GradientAccumulation}{setup.Ranks}" +
                      $"; {settings.Threads} thread(s){(comm.Size > 1 ? " per rank" : "")}.");
        var generation = setup.Generation;
        int[] prompt = tokenizer.Encode(SamplePrompt);

        float lastTrain = float.NaN, lastValidation = float.NaN;
        long lastEvaluated = -1, lastSaved = resumedFrom, tokens = 0;
        double trainingMs = 0, communicationMs = 0;
        bool interrupted = false;

        void Evaluate()
        {
            if (trainer is Trainer { Model: IMoeModel moe } dataParallel && trainer.Step > 0) progress.Info(ExpertLoadText(moe, trainer.Step, dataParallel));
            var clock = Stopwatch.StartNew();
            lastValidation = trainer.EvaluateValidation();
            lastEvaluated = trainer.Step;
            string sample = settings.SampleChars > 0 && generation is not null ? SampleText(generation, prompt, settings.SampleChars, options.Seed + (ulong)trainer.Step) : "";
            progress.Evaluated(trainer.Step, lastValidation, clock.Elapsed, sample);
        }

        void Save()
        {
            trainer.Save(settings.Out);
            lastSaved = trainer.Step;
            progress.Saved(trainer.Step, Path.Combine(settings.Out, TrainingCheckpoint.FolderName));
        }

        progress.Begin(trainer.Step, options.Steps);
        while (trainer.Step < options.Steps)
        {
            if (trainer.AgreeToStop(stop.IsCancellationRequested)) { interrupted = true; break; }   // every rank stops at the same step
            var result = trainer.TrainStep();
            if (!float.IsFinite(result.Loss))
                throw new InvalidOperationException($"The loss became {result.Loss} at step {result.Step}: lower --lr or raise --warmup.");
            trainingMs += result.Milliseconds;
            communicationMs += result.CommunicationMilliseconds;
            tokens += result.Tokens;
            lastTrain = result.Loss;
            progress.Step(result, tokens / (trainingMs / 1000), TimeSpan.FromMilliseconds(trainingMs));
            if (trainer.Step == options.Steps) break;
            if (settings.EvalInterval > 0 && trainer.Step % settings.EvalInterval == 0) Evaluate();
            if (settings.CheckpointInterval > 0 && trainer.Step % settings.CheckpointInterval == 0) Save();
        }

        if (!interrupted)
        {
            if (lastEvaluated != trainer.Step) Evaluate();
        }
        bool saved = root && Directory.Exists(Path.Combine(settings.Out, TrainingCheckpoint.FolderName));
        if (comm.Size > 1)
        {
            Span<double> flag = [saved ? 1 : 0];                                    // rank 0 knows whether the folder exists
            comm.AllReduceSum(flag);
            saved = flag[0] > 0;
        }
        if (lastSaved != trainer.Step || !saved) Save();

        long stepsRun = trainer.Step - resumedFrom;
        var summary = new TrainSummary
        {
            Model = definition.Name,
            Parameters = parameters,
            Tokenizer = start.TokenizerName,
            Threads = settings.Threads,
            Ranks = comm.Size,
            TensorParallel = ways,
            CommunicationSeconds = communicationMs / 1000,
            ResumedFrom = resumedFrom,
            Steps = trainer.Step,
            Interrupted = interrupted,
            FinalTrainLoss = lastTrain,
            FinalValidationLoss = lastEvaluated == trainer.Step ? lastValidation : float.NaN,
            Seconds = wall.Elapsed.TotalSeconds,
            TrainingSeconds = trainingMs / 1000,
            MillisecondsPerStep = stepsRun > 0 ? trainingMs / stepsRun : 0,
            TokensPerSecond = trainingMs > 0 ? tokens / (trainingMs / 1000) : 0,
            Options = options,
            Output = Path.GetFullPath(settings.Out),
        };
        if (root) WriteSummary(settings.Out, summary);
        return summary;
    }

    /// <summary>What the loop drives: the trainer, the whole model's parameter count, the ranks' part of the description line,
    /// the text generation of the samples (null on ranks that take no part in it), and what to dispose, in order.</summary>
    private sealed class Setup(IStepTrainer trainer, long parameters, string ranks, TextGeneration? generation, params IDisposable?[] owned) : IDisposable
    {
        public IStepTrainer Trainer => trainer;
        public long Parameters => parameters;
        public string Ranks => ranks;
        public TextGeneration? Generation => generation;

        public void Dispose()
        {
            foreach (var item in owned) item?.Dispose();
        }
    }

    /// <summary>One model on this process (data-parallel over <paramref name="comm"/> under mpirun): <see cref="Trainer"/>.</summary>
    private static Setup OneModelSetup(TrainSettings settings, StartingPoint start, TrainingOptions options, TrainingData data, ICommunicator comm,
                                       string? existing, ITrainingProgress progress)
    {
        var definition = start.Definition;
        var model = definition.Create(settings.Lora is null ? WeightFormat.F32 : settings.LoraBase);   // LoRA: the frozen base, BF16 by default
        LoraAdapter? lora = null;
        Trainer? trainer = null;
        IInferenceSession? session = null;
        try
        {
            model.GradientCheckpointing = settings.GradientCheckpointing;
            if (settings.Lora is not null)
            {
                var report = start.LoadInto(model);                               // the frozen base
                lora = settings.Resume ? LoraAdapter.Load(model, existing ?? TrainingCheckpoint.Find(settings.Out)!) : LoraAdapter.Create(model, settings.Lora with { BaseModel = start.Weights }, options.Seed);
                progress.Info($"LoRA r {lora.Config.Rank}, alpha {lora.Config.Alpha} on {string.Join(", ", lora.Config.TargetModules)}: {lora.Count:N0} trainable parameters; " +
                              $"base {definition.Name} from {start.Weights} ({report.Loaded} tensors) frozen, in {model.Weights.Format}.");
            }
            trainer = data.Text is not null
                ? new Trainer(model, data.Text, options, comm, settings.Parallel, lora)
                : new Trainer(model, data.Conversations!, options, comm, settings.Parallel, lora);
            trainer.Files = lora is null ? start.Files : start.Files.WithAdapter(lora);
            if (settings.Resume)
            {
                trainer.Load(settings.Out);
                progress.Info($"Resumed {definition.Name} from {existing} at step {trainer.Step}.");
            }
            else if (start.Weights is not null && lora is null)
            {
                var report = start.LoadInto(model);
                progress.Info($"Initialised {definition.Name} from {start.Weights}: {report.Loaded} tensors.");
            }
            else if (lora is null)
            {
                InitialWeights.Normal(model, options.Seed, settings.InitStd, settings.ScaledResidualInit);
                trainer.SynchronizeWeights();
            }
            TextGeneration? generation = null;
            if (settings.SampleChars > 0 && comm.Rank == 0)
            {
                session = model.CreateSession(options.Context);
                generation = new TextGeneration(session, new Sampler(definition.Config.Vocab, SampleSampling(options.Seed)), start.Tokenizer);
            }
            string ranks = comm.Size > 1
                ? $" × {comm.Size} ranks ({comm.Description}{(settings.Parallel.ShardOptimizer ? ", ZeRO-1" : "")}{(settings.Parallel.Overlap ? "" : ", no overlap")})"
                : "";
            return new Setup(trainer, model.Weights.Count, ranks, generation, session, trainer, lora, model);
        }
        catch
        {
            session?.Dispose();
            trainer?.Dispose();
            lora?.Dispose();
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Refuses what tensor-parallel training does not do, before anything is allocated: a MoE, a split the model does not
    /// allow, a job whose ranks <paramref name="ways"/> does not divide.
    /// </summary>
    private static void CheckTensorParallel(ModelDefinition definition, int ways, ICommunicator comm)
    {
        if (definition.Config.IsMoe)
            throw new ArgumentException($"--tensor-parallel: {definition.Name} is a mixture of experts, and tensor-parallel training covers dense models only " +
                                        "(the expert-parallel backward is not implemented); train it in one process or data-parallel, without --tensor-parallel.");
        if (TensorSplit.Problem(definition.Config, ways) is string problem) throw new ArgumentException(problem);
        if (comm.Size % ways != 0)
            throw new ArgumentException($"--tensor-parallel {ways} must divide the job's {comm.Size} ranks (mpirun -np a multiple of {ways}).");
    }

    /// <summary>
    /// This rank's slice of the model, tensor × data parallel (<see cref="ParallelGroups"/>): <see cref="TensorParallelDatasetTrainer"/>.
    /// The slice starts as zeros that the checkpoint fills (--resume), as the --init-from weights' slice, or as the slice
    /// of the one-process random initialisation. Tensor group 0 samples the evaluation text together.
    /// </summary>
    private static Setup TensorParallelSetup(TrainSettings settings, StartingPoint start, TrainingOptions options, TrainingData data, ICommunicator comm,
                                             string? existing, ITrainingProgress progress)
    {
        var definition = start.Definition;
        int ways = settings.TensorParallel;
        var groups = ParallelGroups.Create(comm, ways);
        ITensorParallelModel? model = null;
        TensorParallelDatasetTrainer? trainer = null;
        ITensorParallelSession? session = null;
        try
        {
            model = settings.Resume
                ? TensorParallelModels.FromSlices(groups.Tensor, definition, split => Weights.Create(WeightFormat.F32, split.Count, split.VectorStart), "checkpoint")
                : start.Weights is not null
                    ? TensorParallelModels.Load(groups.Tensor, definition, start.Weights)
                    : TensorParallelModels.FromSlices(groups.Tensor, definition, split => InitialWeights.Slice(split, options.Seed, settings.InitStd, settings.ScaledResidualInit),
                                                      $"random seed {options.Seed} std {settings.InitStd} scaled {settings.ScaledResidualInit}");
            var slice = (ITensorParallelTraining)model;
            trainer = data.Text is not null
                ? new TensorParallelDatasetTrainer(comm, groups, slice, definition, data.Text, options)
                : new TensorParallelDatasetTrainer(comm, groups, slice, definition, data.Conversations!, options);
            trainer.Files = start.Files;
            if (settings.Resume)
            {
                trainer.Load(settings.Out);
                progress.Info($"Resumed {definition.Name} from {existing} at step {trainer.Step}.");
            }
            else if (start.Weights is not null) progress.Info($"Initialised {definition.Name} from {start.Weights}: each rank read its slice.");
            TextGeneration? generation = null;
            if (settings.SampleChars > 0 && groups.Data.Rank == 0)
            {
                session = model.CreateSession(options.Context);
                var sampler = new ShardedSampler(groups.Tensor, definition.Config.Vocab, session.VocabStart, session.VocabCount, SampleSampling(options.Seed));
                generation = new TextGeneration(session, sampler, start.Tokenizer);
            }
            string ranks = $" × {comm.Size / ways} data-parallel group(s) of tensor-parallel {ways} ({comm.Description}; {model.Split.Count:N0} parameters per rank)";
            return new Setup(trainer, definition.ParameterCount, ranks, generation, session, trainer, model, groups);
        }
        catch
        {
            session?.Dispose();
            trainer?.Dispose();
            model?.Dispose();
            groups.Dispose();
            throw;
        }
    }

    /// <summary>About <paramref name="chars"/> characters of text after <paramref name="prompt"/>, sampled nanoGPT-style with a sliding window.</summary>
    public static string SampleText(TextGeneration generation, int[] prompt, int chars, ulong seed)
    {
        generation.Sampler.Reseed(seed);
        var text = new StringBuilder(chars + 16);
        // A token is at least one character except for pieces of multi-byte characters: 4 × chars tokens always suffice.
        generation.Start(prompt, new GenerationOptions { MaxNewTokens = 4 * chars, SlidingWindow = true });
        while (text.Length < chars && generation.Next()) text.Append(generation.Piece);
        if (text.Length > chars) text.Length = char.IsHighSurrogate(text[chars - 1]) ? chars - 1 : chars;
        return text.ToString();
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static void WriteSummary(string folder, TrainSummary summary)
    {
        Directory.CreateDirectory(folder);
        string path = Path.Combine(folder, "summary.json"), temp = path + ".tmp";
        File.WriteAllText(temp, JsonSerializer.Serialize(summary, JsonOptions));
        File.Move(temp, path, overwrite: true);
    }

    /// <summary>
    /// Per-expert load of every sparse layer in the last training batch: the share of routed (token, slot) pairs
    /// each expert received (uniform routing gives 100% / Experts each; the aux loss pushes towards it).
    /// </summary>
    /// With a data-parallel <paramref name="trainer"/> the loads are summed over the ranks' last micro-batches and the aux
    /// loss averaged (a collective: every rank calls this).
    internal static string ExpertLoadText(IMoeModel moe, long step, Trainer? trainer = null)
    {
        var text = new System.Text.StringBuilder($"expert load at step {step} (share of routed tokens per expert):");
        for (int layer = 0; layer < moe.Config.Layers; layer++)
        {
            if (!moe.IsSparseLayer(layer)) continue;
            long[] load = trainer is null ? moe.ExpertLoad(layer).Select(n => (long)n).ToArray() : trainer.ExpertLoad(moe, layer);
            double total = Math.Max(1, load.Sum());
            text.Append($"\n  layer {layer}: ").AppendJoin(" ", load.Select(n => $"{100 * n / total,4:F0}%"));
        }
        float aux = trainer is null ? moe.AuxLoss : trainer.AuxLoss(moe);
        text.Append($"\n  aux loss {aux:F4} (perfectly uniform routing gives ExpertsPerToken = {moe.Config.ExpertsPerToken})");
        return text.ToString();
    }
}
