using System.CommandLine;
using System.Runtime.InteropServices;
using Qwen3Gen.Distributed;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Training;
using Spectre.Console;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen train`: trains a compiled definition on a text (default: the bundled tinyshakespeare, byte-level) with
/// nanoGPT's CPU recipe by default. Live progress bar on a terminal, plain lines otherwise; Ctrl+C saves and stops.
/// Under `mpirun -np N` it trains data-parallel on N ranks, with `--tensor-parallel T` each model split over T of them
/// (docs/distributed.md); rank 0 prints and writes.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainingOptions();
        var model = new Option<string?>("--model") { Description = "Definition to train (see `qwen3gen info`; default Qwen3Shakespeare, or the --init-from folder's)." };
        var initFrom = new Option<string?>("--init-from") { Description = "Start from these weights: a Hugging Face snapshot or training-checkpoint folder (its config and tokenizer are used) or a .safetensors file." };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps to reach (with --resume: the total, counting the steps already done).", DefaultValueFactory = _ => d.Steps }.AtLeast(1);
        var batch = new Option<int>("--batch") { Description = "Windows per micro-batch.", DefaultValueFactory = _ => d.Batch }.AtLeast(1);
        var context = new Option<int>("--context") { Description = "Tokens per window (block size).", DefaultValueFactory = _ => d.Context }.AtLeast(2);
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => d.LearningRate }.InRange(0, double.MaxValue, includeMin: false);
        var minLr = new Option<double>("--min-lr") { Description = "Learning rate at the end of the cosine decay.", DefaultValueFactory = _ => d.MinLearningRate }.AtLeast(0);
        var warmup = new Option<int>("--warmup") { Description = "Linear warmup steps.", DefaultValueFactory = _ => d.WarmupSteps }.AtLeast(0);
        var accumulation = new Option<int>("--accumulation") { Description = "Micro-batches per optimizer step.", DefaultValueFactory = _ => d.GradientAccumulation }.AtLeast(1);
        var weightDecay = new Option<double>("--weight-decay") { Description = "AdamW decoupled weight decay (matrices only).", DefaultValueFactory = _ => d.WeightDecay }.AtLeast(0);
        var beta2 = new Option<double>("--beta2") { Description = "AdamW β2.", DefaultValueFactory = _ => d.Beta2 }.InRange(0, 1, includeMax: false);
        var clip = new Option<double>("--clip") { Description = "Global gradient-norm clip (0: off).", DefaultValueFactory = _ => d.GradientClip }.AtLeast(0);
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial weights and of the training windows.", DefaultValueFactory = _ => d.Seed };
        var threads = new Option<int>("--threads") { Description = "Kernel threads (default: all cores; under mpirun, the cores divided by the ranks on this machine).", DefaultValueFactory = _ => DefaultThreads() }.AtLeast(1);
        var zero = new Option<bool>("--zero") { Description = "Under mpirun: ZeRO-1, each rank keeps the AdamW moments of 1/N of the parameters." };
        var noOverlap = new Option<bool>("--no-overlap") { Description = "Under mpirun: reduce the gradients after the backward pass instead of layer by layer during it." };
        var tensorParallel = new Option<int>("--tensor-parallel") { Description = "Under mpirun -np P: split the model over this many ranks (tensor parallelism, dense models), P / N data-parallel groups of them (1: off).", DefaultValueFactory = _ => 1 }.AtLeast(1);
        var commTimeout = new Option<double>("--comm-timeout") { Description = "Under mpirun: seconds to wait on another rank before aborting the job (a rank died or hangs).", DefaultValueFactory = _ => 300 };
        var evalInterval = new Option<int>("--eval-interval") { Description = "Steps between validation-loss evaluations and samples (0: only at the end).", DefaultValueFactory = _ => 250 }.AtLeast(0);
        var checkpointInterval = new Option<int>("--checkpoint-interval") { Description = "Steps between checkpoints (0: only at the end).", DefaultValueFactory = _ => 500 }.AtLeast(0);
        var logInterval = new Option<int>("--log-interval") { Description = "Steps between progress lines when the output is not a terminal.", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var output = new Option<string?>("--out") { Description = "Run folder for checkpoint/ and summary.json (default: runs/<model>)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from <out>/checkpoint (same options; --steps may grow)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Start afresh even though <out> holds a checkpoint." };
        var data = new Option<string?>("--data") { Description = "UTF-8 text, or JSON lines of chat conversations ({\"messages\": [...]}, loss on assistant tokens), to train on (default: the bundled tinyshakespeare)." };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "byte (vocabulary 256; the default) or qwen3 (needs a model with the full Qwen3 vocabulary, e.g. Qwen3FullVocab); with --init-from a folder: its own." };
        tokenizer.AcceptOnlyFromAmong("byte", "qwen3");
        var samples = new Option<int>("--samples") { Description = "Characters of text generated at each evaluation (0: none).", DefaultValueFactory = _ => 200 }.AtLeast(0);
        var initStd = new Option<float>("--init-std") { Description = "Standard deviation of the initial matrices.", DefaultValueFactory = _ => 0.02f }.InRange(0, float.MaxValue, includeMin: false);
        var scaledInit = new Option<bool>("--scaled-residual-init") { Description = "GPT-2 init: o_proj and down_proj start with std / sqrt(2 · layers)." };

        var loraRank = new Option<int>("--lora-rank") { Description = "Train LoRA adapters of this rank on the --init-from model instead of all its weights (0: full fine-tune)." };
        var loraAlpha = new Option<double?>("--lora-alpha") { Description = "LoRA alpha: the update is (alpha / rank)·B·A (default 2 × rank)." };
        var loraTargets = new Option<string>("--lora-targets") { Description = "Projections to adapt, comma-separated (PEFT target_modules).", DefaultValueFactory = _ => string.Join(",", Qwen3Gen.Training.Lora.LoraConfig.AllProjections) };
        var loraBase = new Option<string>("--lora-base") { Description = "How LoRA holds the frozen base: bf16 (half the memory; F32 weights are rounded) or f32 (exact).", DefaultValueFactory = _ => "bf16" };
        loraBase.AcceptOnlyFromAmong("bf16", "f32");
        var checkpointing = new Option<bool>("--gradient-checkpointing") { Description = "Recompute each layer's activations in backward instead of keeping them: less memory for long contexts, one more forward per step (dense models)." };
        var command = new Command("train", "Train a model definition on a text corpus (default: Qwen3Shakespeare on tinyshakespeare, nanoGPT's CPU recipe).")
        {
            model, initFrom, steps, batch, context, lr, minLr, warmup, accumulation, weightDecay, beta2, clip, seed, threads,
            evalInterval, checkpointInterval, logInterval, output, resume, overwrite, data, tokenizer, samples, initStd, scaledInit,
            zero, noOverlap, tensorParallel, commTimeout, loraRank, loraAlpha, loraTargets, loraBase, checkpointing,
        };
        command.SetAction(parse =>
        {
            string? name = parse.GetValue(model), init = parse.GetValue(initFrom);
            string runName = name ?? (init is null ? TrainSettings.DefaultModel : Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(Path.GetFullPath(init))) + "-finetune");
            var settings = new TrainSettings
            {
                Model = name,
                InitFrom = init,
                Training = new TrainingOptions
                {
                    Steps = parse.GetValue(steps), Batch = parse.GetValue(batch), Context = parse.GetValue(context),
                    LearningRate = parse.GetValue(lr), MinLearningRate = parse.GetValue(minLr), WarmupSteps = WarmupFor(parse, warmup, parse.GetValue(steps), d.WarmupSteps),
                    GradientAccumulation = parse.GetValue(accumulation), WeightDecay = parse.GetValue(weightDecay),
                    Beta2 = parse.GetValue(beta2), GradientClip = parse.GetValue(clip), Seed = parse.GetValue(seed),
                },
                WarmupGiven = parse.GetResult(warmup) is { Implicit: false },
                Threads = parse.GetValue(threads),
                Parallel = new DataParallelOptions { ShardOptimizer = parse.GetValue(zero), Overlap = !parse.GetValue(noOverlap) },
                TensorParallel = parse.GetValue(tensorParallel),
                CommunicationTimeout = parse.GetValue(commTimeout) is var t && t > 0 && t < 1e6 ? TimeSpan.FromSeconds(t) : TimeSpan.Zero,
                EvalInterval = parse.GetValue(evalInterval),
                CheckpointInterval = parse.GetValue(checkpointInterval),
                LogInterval = parse.GetValue(logInterval),
                Out = parse.GetValue(output) ?? Path.Combine("runs", runName),
                Resume = parse.GetValue(resume),
                Overwrite = parse.GetValue(overwrite),
                Data = parse.GetValue(data),
                Tokenizer = parse.GetValue(tokenizer),
                SampleChars = parse.GetValue(samples),
                InitStd = parse.GetValue(initStd),
                ScaledResidualInit = parse.GetValue(scaledInit),
                GradientCheckpointing = parse.GetValue(checkpointing),
                Lora = parse.GetValue(loraRank) is int rank and not 0
                    ? new Qwen3Gen.Training.Lora.LoraConfig
                    {
                        Rank = rank, Alpha = parse.GetValue(loraAlpha) ?? 2.0 * rank,
                        TargetModules = parse.GetValue(loraTargets)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
                    }
                    : null,
                LoraBase = parse.GetValue(loraBase) == "f32" ? WeightFormat.F32 : WeightFormat.BF16,
            };
            var resumeArgs = parse.Tokens.Select(t => t.Value).Where(v => v is not ("--overwrite" or "--resume" or "train")).Select(Quote);
            string prefix = Communicator.LaunchedByMpirun ? $"mpirun -np {Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE")} qwen3gen train " : "qwen3gen train ";
            return Run(settings, prefix + string.Join(' ', resumeArgs) + " --resume");
        });
        return command;
    }

    /// <summary>Runs <paramref name="settings"/> with console progress and Ctrl+C handling; returns the exit code.</summary>
    public static int Run(TrainSettings settings, string resumeCommand)
    {
        // Refused before any rank starts MPI, alike on every rank. Rank 0 prints it and fails; the others end quietly with
        // 0, since mpirun ends the whole job when the first rank fails and could cut rank 0 off before it printed.
        string? problem = TensorParallelProblem(settings.TensorParallel);
        if (problem is null)
            try { settings.Validate(); }
            catch (ArgumentException e) { problem = e.Message; }
        if (problem is not null)
        {
            if (Communicator.LaunchedByMpirun && Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_RANK") != "0") return 0;
            Console.Error.WriteLine($"train: {problem}");
            return 2;
        }
        if (!Communicator.LaunchedByMpirun) return Run(settings, resumeCommand, SingleProcessCommunicator.Instance);
        ICommunicator comm;
        try { comm = new OpenMpiCommunicator(); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or IOException or InvalidOperationException)
        {
            Console.Error.WriteLine($"train: {e.Message}");
            return 2;
        }
        using (comm)
        {
            comm.Timeout = settings.CommunicationTimeout > TimeSpan.Zero ? settings.CommunicationTimeout : comm.Timeout;
            int code;
            try { code = Run(settings, resumeCommand, comm); }
            catch (Exception e)
            {
                // Any failure on one rank leaves the others blocked in a collective: end the whole job now.
                Console.Error.WriteLine($"train (rank {comm.Rank} of {comm.Size}): {e.GetType().Name}: {e.Message}");
                Console.Error.Flush();
                comm.Abort(3);
                return 3;
            }
            if (code != 0)
            {
                comm.Abort(code);
            }
            return code;
        }
    }

    /// <summary>Why the job's processes cannot be split <paramref name="ways"/> ways, seen before any rank starts MPI (null: they can).</summary>
    private static string? TensorParallelProblem(int ways)
    {
        if (ways == 1) return null;
        if (!Communicator.LaunchedByMpirun)
            return $"--tensor-parallel {ways} runs as {ways} processes (or a multiple, for data parallelism too): start it with `mpirun -np {ways} qwen3gen train … --tensor-parallel {ways}`.";
        int size = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_SIZE"), out int n) ? n : 1;
        return size % ways == 0 ? null
            : $"--tensor-parallel {ways} must divide the {size} processes of mpirun -np {size}: give -np a multiple of {ways} ({size} / {ways} is not a whole number of data-parallel groups).";
    }

    /// <summary>Runs <paramref name="settings"/> on <paramref name="comm"/>'s ranks; rank 0 shows progress; returns the exit code.</summary>
    private static int Run(TrainSettings settings, string resumeCommand, ICommunicator comm)
    {
        using var stop = new CancellationTokenSource();
        BeginWatch? watch = null;
        // Before training begins (loading the data, a snapshot, a checkpoint: reads that can block or take minutes) there is
        // no trained state to save: a stop request ends the process at once (the signal's default action, exit 130 / 143),
        // whatever the main thread is blocked in. The run folder lock is an OS lock and ends with the process; an
        // interrupted stray-folder cleanup is finished by the next start.
        bool BeforeTraining(string signal)
        {
            if (watch is { Begun: true }) return false;
            Console.Error.WriteLine($"train: {signal} before training began: stopped, nothing to save.");
            Console.Error.Flush();
            return true;
        }
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (stop.IsCancellationRequested) return;      // a second Ctrl+C ends the process at once
            if (BeforeTraining("Ctrl+C")) return;
            e.Cancel = true;
            stop.Cancel();
            Console.Error.WriteLine("Ctrl+C: finishing this step and saving (press again to quit without saving) ...");
        };
        Console.CancelKeyPress += onCancel;
        // `kill` (SIGTERM, e.g. a CI timeout) stops the same way: finish the step, save, exit.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            if (stop.IsCancellationRequested) return;
            if (BeforeTraining("SIGTERM")) return;
            context.Cancel = true;
            stop.Cancel();
        });
        try
        {
            TrainSummary summary;
            if (comm.Rank != 0) summary = TrainRun.Execute(settings, watch = new BeginWatch(QuietProgress.Instance), stop.Token, comm);
            else if (IsInteractive())
            {
                summary = AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                             new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx => TrainRun.Execute(settings, watch = new BeginWatch(new LiveProgress(ctx)), stop.Token, comm));
            }
            else summary = TrainRun.Execute(settings, watch = new BeginWatch(new PlainProgress(Console.Out, settings.LogInterval)), stop.Token, comm);

            if (comm.Rank == 0) Report(summary, resumeCommand);
            return 0;
        }
        catch (Exception e) when (comm.Size == 1 && e is ArgumentException or FileNotFoundException or InvalidDataException or IOException or InvalidOperationException
                                       or UnauthorizedAccessException or NotSupportedException or InsufficientMemoryException)
        {
            Console.Error.WriteLine($"train: {e.Message}");
            return 2;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>A live bar needs a terminal; pipes and CI logs get plain lines.</summary>
    public static bool IsInteractive() => !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;

    private static void Report(TrainSummary s, string resumeCommand)
    {
        string checkpoint = Path.Combine(s.Output, TrainingCheckpoint.FolderName);
        if (s.Interrupted)
        {
            Console.WriteLine($"Stopped at step {s.Steps}/{s.Options.Steps}; saved {checkpoint}.");
            Console.WriteLine($"Resume with: {resumeCommand}");
        }
        else
        {
            Console.WriteLine($"Final validation loss {s.FinalValidationLoss:F4} at step {s.Steps} (train loss {s.FinalTrainLoss:F4}).");
            Console.WriteLine($"Saved {checkpoint}.");
        }
        string split = s.TensorParallel > 1 ? $" (tensor-parallel {s.TensorParallel} × {s.Ranks / s.TensorParallel} data-parallel)" : "";
        string where = s.Ranks > 1 ? $"{s.Ranks} ranks{split} × {s.Threads} thread(s), communication {100 * s.CommunicationSeconds / Math.Max(1e-9, s.TrainingSeconds):F1}% of step time" : $"{s.Threads} thread(s)";
        Console.WriteLine($"Total {s.Seconds:F1} s; training {s.TrainingSeconds:F1} s = {s.MillisecondsPerStep:F1} ms/step, {s.TokensPerSecond:N0} tokens/s on {where}. Summary: {Path.Combine(s.Output, "summary.json")}");
    }

    /// <summary>All cores; under mpirun the cores shared by the ranks on this machine (OMPI_COMM_WORLD_LOCAL_SIZE).</summary>
    private static int DefaultThreads()
    {
        int local = int.TryParse(Environment.GetEnvironmentVariable("OMPI_COMM_WORLD_LOCAL_SIZE"), out int n) && n > 0 ? n : 1;
        return Math.Max(1, Environment.ProcessorCount / local);
    }

    private static string Quote(string value) => value.Contains(' ') || value.Length == 0 ? $"\"{value}\"" : value;

    /// <summary>--warmup as given; when not given, the default (100) but at most a tenth of a short run's steps.</summary>
    private static int WarmupFor(ParseResult parse, Option<int> warmup, int steps, int defaultWarmup) =>
        parse.GetResult(warmup) is { Implicit: false } ? parse.GetValue(warmup) : Math.Min(defaultWarmup, steps / 10);
}
