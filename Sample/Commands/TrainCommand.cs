using System.CommandLine;
using System.Runtime.InteropServices;
using Qwen3Gen.Sample.Training;
using Qwen3Gen.Training;
using Spectre.Console;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen train`: trains a compiled definition on a text (default: the bundled tinyshakespeare, byte-level) with
/// nanoGPT's CPU recipe by default. Live progress bar on a terminal, plain lines otherwise; Ctrl+C saves and stops.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var d = new TrainingOptions();
        var model = new Option<string>("--model") { Description = "Definition to train (see `qwen3gen info`).", DefaultValueFactory = _ => "Qwen3Shakespeare" };
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
        var threads = new Option<int>("--threads") { Description = "Kernel threads (default: all cores).", DefaultValueFactory = _ => Environment.ProcessorCount }.AtLeast(1);
        var evalInterval = new Option<int>("--eval-interval") { Description = "Steps between validation-loss evaluations and samples (0: only at the end).", DefaultValueFactory = _ => 250 }.AtLeast(0);
        var checkpointInterval = new Option<int>("--checkpoint-interval") { Description = "Steps between checkpoints (0: only at the end).", DefaultValueFactory = _ => 500 }.AtLeast(0);
        var logInterval = new Option<int>("--log-interval") { Description = "Steps between progress lines when the output is not a terminal.", DefaultValueFactory = _ => 100 }.AtLeast(1);
        var output = new Option<string?>("--out") { Description = "Run folder for checkpoint/ and summary.json (default: runs/<model>)." };
        var resume = new Option<bool>("--resume") { Description = "Continue from <out>/checkpoint (same options; --steps may grow)." };
        var overwrite = new Option<bool>("--overwrite") { Description = "Start afresh even though <out> holds a checkpoint." };
        var data = new Option<string?>("--data") { Description = "UTF-8 text file to train on (default: the bundled tinyshakespeare)." };
        var tokenizer = new Option<string>("--tokenizer") { Description = "byte (vocabulary 256) or qwen3 (needs a model with the full Qwen3 vocabulary, e.g. Qwen3FullVocab).", DefaultValueFactory = _ => "byte" };
        tokenizer.AcceptOnlyFromAmong("byte", "qwen3");
        var samples = new Option<int>("--samples") { Description = "Characters of text generated at each evaluation (0: none).", DefaultValueFactory = _ => 200 }.AtLeast(0);
        var initStd = new Option<float>("--init-std") { Description = "Standard deviation of the initial matrices.", DefaultValueFactory = _ => 0.02f }.InRange(0, float.MaxValue, includeMin: false);
        var scaledInit = new Option<bool>("--scaled-residual-init") { Description = "GPT-2 init: o_proj and down_proj start with std / sqrt(2 · layers)." };

        var command = new Command("train", "Train a model definition on a text corpus (default: Qwen3Shakespeare on tinyshakespeare, nanoGPT's CPU recipe).")
        {
            model, steps, batch, context, lr, minLr, warmup, accumulation, weightDecay, beta2, clip, seed, threads,
            evalInterval, checkpointInterval, logInterval, output, resume, overwrite, data, tokenizer, samples, initStd, scaledInit,
        };
        command.SetAction(parse =>
        {
            string name = parse.GetValue(model)!;
            var settings = new TrainSettings
            {
                Model = name,
                Training = new TrainingOptions
                {
                    Steps = parse.GetValue(steps), Batch = parse.GetValue(batch), Context = parse.GetValue(context),
                    LearningRate = parse.GetValue(lr), MinLearningRate = parse.GetValue(minLr), WarmupSteps = WarmupFor(parse, warmup, parse.GetValue(steps), d.WarmupSteps),
                    GradientAccumulation = parse.GetValue(accumulation), WeightDecay = parse.GetValue(weightDecay),
                    Beta2 = parse.GetValue(beta2), GradientClip = parse.GetValue(clip), Seed = parse.GetValue(seed),
                },
                WarmupGiven = parse.GetResult(warmup) is { Implicit: false },
                Threads = parse.GetValue(threads),
                EvalInterval = parse.GetValue(evalInterval),
                CheckpointInterval = parse.GetValue(checkpointInterval),
                LogInterval = parse.GetValue(logInterval),
                Out = parse.GetValue(output) ?? Path.Combine("runs", name),
                Resume = parse.GetValue(resume),
                Overwrite = parse.GetValue(overwrite),
                Data = parse.GetValue(data),
                Tokenizer = parse.GetValue(tokenizer)!,
                SampleChars = parse.GetValue(samples),
                InitStd = parse.GetValue(initStd),
                ScaledResidualInit = parse.GetValue(scaledInit),
            };
            var resumeArgs = parse.Tokens.Select(t => t.Value).Where(v => v is not ("--overwrite" or "--resume" or "train")).Select(Quote);
            return Run(settings, "qwen3gen train " + string.Join(' ', resumeArgs) + " --resume");
        });
        return command;
    }

    /// <summary>Runs <paramref name="settings"/> with console progress and Ctrl+C handling; returns the exit code.</summary>
    public static int Run(TrainSettings settings, string resumeCommand)
    {
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            if (stop.IsCancellationRequested) return;      // a second Ctrl+C ends the process at once
            e.Cancel = true;
            stop.Cancel();
            Console.Error.WriteLine("Ctrl+C: finishing this step and saving (press again to quit without saving) ...");
        };
        Console.CancelKeyPress += onCancel;
        // `kill` (SIGTERM, e.g. a CI timeout) stops the same way: finish the step, save, exit.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            if (stop.IsCancellationRequested) return;
            context.Cancel = true;
            stop.Cancel();
        });
        try
        {
            TrainSummary summary;
            if (IsInteractive())
            {
                summary = AnsiConsole.Progress()
                    .AutoClear(false)
                    .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                             new ElapsedTimeColumn(), new RemainingTimeColumn())
                    .Start(ctx => TrainRun.Execute(settings, new LiveProgress(ctx), stop.Token));
            }
            else summary = TrainRun.Execute(settings, new PlainProgress(Console.Out, settings.LogInterval), stop.Token);

            Report(summary, resumeCommand);
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or FileNotFoundException or InvalidDataException or IOException or InvalidOperationException
                                       or UnauthorizedAccessException or NotSupportedException)
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
        Console.WriteLine($"Total {s.Seconds:F1} s; training {s.TrainingSeconds:F1} s = {s.MillisecondsPerStep:F1} ms/step, {s.TokensPerSecond:N0} tokens/s on {s.Threads} thread(s). Summary: {Path.Combine(s.Output, "summary.json")}");
    }

    private static string Quote(string value) => value.Contains(' ') || value.Length == 0 ? $"\"{value}\"" : value;

    /// <summary>--warmup as given; when not given, the default (100) but at most a tenth of a short run's steps.</summary>
    private static int WarmupFor(ParseResult parse, Option<int> warmup, int steps, int defaultWarmup) =>
        parse.GetResult(warmup) is { Implicit: false } ? parse.GetValue(warmup) : Math.Min(defaultWarmup, steps / 10);
}
