using System.CommandLine;
using System.Globalization;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen perplexity --model M [--data FILE] [--reference R]`: how well a model predicts a text, and how far a
/// quantised (or otherwise changed) model is from a reference — what llama.cpp's `llama-perplexity` and its
/// `--kl-divergence` report. The text is cut into consecutive windows of --context targets, every next token scored once
/// (<see cref="SequentialWindows"/>, as `train` scores its validation split, so that the figure equals the trainer's
/// validation loss); perplexity = exp(mean cross-entropy). With a reference model, at every scored position:
/// KL(p_ref ‖ p) in nats, whether both rank the same token first, and the squared logit error against Σ z_ref²
/// (NMSE); all sums in float64.
/// </summary>
internal static class PerplexityCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Model folder (snapshot, training checkpoint) or .gguf file.", Required = true };
        var reference = new Option<string?>("--reference") { Description = "A second model with the same vocabulary (e.g. the F32 original of a quantised file): KL divergence, top-1 agreement and logit NMSE against it." };
        var data = new Option<string?>("--data") { Description = "UTF-8 text to score (default: the bundled tinyshakespeare)." };
        var split = new Option<string>("--split") { Description = "validation: the last 10 % of the text, the part `train` holds out (default); all: the whole text.", DefaultValueFactory = _ => "validation" };
        var context = new Option<int>("--context") { Description = "Targets per window (each window starts with no earlier context).", DefaultValueFactory = _ => 256 }.AtLeast(1);
        var windows = new Option<int?>("--max-windows") { Description = "Score only the first N windows (default: all)." }.AtLeast(1);
        var threads = new Option<int?>("--threads") { Description = "Threads for the kernels (default: all cores)." }.AtLeast(1);
        var command = new Command("perplexity", "Perplexity of a model on a text, and its KL divergence / top-1 agreement / logit NMSE against a reference model.")
            { model, reference, data, split, context, windows, threads };
        command.SetAction(parse =>
        {
            string splitName = parse.GetValue(split)!;
            if (splitName is not ("validation" or "all"))
            {
                Console.Error.WriteLine($"perplexity: error: --split {splitName} is not validation or all.");
                return CommandLine.UsageError;
            }
            var settings = new Settings
            {
                Model = parse.GetValue(model)!, Reference = parse.GetValue(reference), Data = parse.GetValue(data), WholeText = splitName == "all",
                Context = parse.GetValue(context), MaxWindows = parse.GetValue(windows), Threads = parse.GetValue(threads),
            };
            return Run(settings, Console.Out, Console.Error);
        });
        return command;
    }

    public sealed record Settings
    {
        public required string Model { get; init; }
        public string? Reference { get; init; }
        public string? Data { get; init; }
        public bool WholeText { get; init; }
        public int Context { get; init; } = 256;
        public int? MaxWindows { get; init; }
        public int? Threads { get; init; }
    }

    /// <summary>What a run measured (the printed lines, as numbers).</summary>
    public sealed record Result(long Targets, double MeanCrossEntropy, double? ReferenceCrossEntropy, double? MeanKl, double? TopOneAgreement, double? Nmse)
    {
        public double Perplexity => Math.Exp(MeanCrossEntropy);
    }

    public static int Run(Settings s, TextWriter output, TextWriter error) => Measure(s, output, error) is null ? 1 : 0;

    /// <summary>Runs the measurement; null after printing the error when the input is bad.</summary>
    public static Result? Measure(Settings s, TextWriter output, TextWriter error)
    {
        if (ModelLoading.LoadAny("perplexity", new ModelSettings { ModelDir = s.Model, Threads = s.Threads }, error) is not var (loaded, tokenizer)) return null;
        using (loaded)
        {
            LoadedModel? reference = null;
            try
            {
                if (s.Reference is not null)
                {
                    if (ModelLoading.LoadAny("perplexity", new ModelSettings { ModelDir = s.Reference, Threads = s.Threads }, error) is not var (r, _)) return null;
                    reference = r;
                    if (r.Config.Vocab != loaded.Config.Vocab)
                        throw new ArgumentException($"--reference '{s.Reference}' has a vocabulary of {r.Config.Vocab:N0}, the model {loaded.Config.Vocab:N0}: they cannot be compared token for token.");
                }
                int limit = Math.Min(loaded.Config.PositionLimit, reference?.Config.PositionLimit ?? int.MaxValue);
                if (s.Context > limit) throw new ArgumentException($"--context ({s.Context}) exceeds the model's {limit} positions.");

                var text = Corpus.Load(s.Data, tokenizer, s.Context).Text
                           ?? throw new ArgumentException($"--data '{s.Data}' holds chat conversations; perplexity scores plain text.");
                var tokens = s.WholeText ? text.Tokens : text.Validation;
                var windows = new SequentialWindows(tokens, batch: 1, s.Context);
                int count = Math.Min(windows.Windows, s.MaxWindows ?? int.MaxValue);
                var scores = Score(loaded.Model, reference?.Model, windows, count, loaded.Config.Vocab);

                var c = CultureInfo.InvariantCulture;
                string source = s.Data is null ? "the bundled tinyshakespeare" : $"'{s.Data}'";
                output.WriteLine(string.Format(c, "{0}: {1:N0} tokens of {2} ({3}), {4} window(s) of {5} targets",
                    loaded.Definition.Name, scores.Targets, source, s.WholeText ? "whole text" : "validation split", count, s.Context));
                output.WriteLine(string.Format(c, "perplexity {0:0.0000} (mean cross-entropy {1:0.000000} nats)", scores.Perplexity, scores.MeanCrossEntropy));
                if (scores.ReferenceCrossEntropy is double rce)
                {
                    output.WriteLine(string.Format(c, "reference perplexity {0:0.0000} (mean cross-entropy {1:0.000000} nats); ln ratio {2:+0.000000;-0.000000}",
                        Math.Exp(rce), rce, scores.MeanCrossEntropy - rce));
                    output.WriteLine(string.Format(c, "vs reference: mean KL divergence {0:0.000000} nats, same top token {1:0.00} %, logit NMSE {2:0.000E+0}",
                        scores.MeanKl, 100 * scores.TopOneAgreement, scores.Nmse));
                }
                return scores;
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                ModelLoading.Fail("perplexity", e, error, loaded);
                return null;
            }
            finally
            {
                reference?.Dispose();
            }
        }
    }

    private static Result Score(IQwen3Model model, IQwen3Model? reference, SequentialWindows windows, int count, int vocab)
    {
        int T = windows.Context;
        var inputs = new int[T];
        var targets = new int[T];
        model.Reserve(1, T, training: false);
        reference?.Reserve(1, T, training: false);
        double crossEntropy = 0, referenceCrossEntropy = 0, kl = 0, errorSquares = 0, referenceSquares = 0;
        long scored = 0, sameTop = 0;
        float[] referenceLogits = reference is null ? [] : new float[T * vocab];
        for (int w = 0; w < count; w++)
        {
            windows.Fill(w, inputs, targets);
            if (reference is not null)
            {
                reference.Forward(inputs, [], 1, T);
                reference.Logits[..(T * vocab)].CopyTo(referenceLogits);
            }
            model.Forward(inputs, [], 1, T);
            var logits = model.Logits;
            for (int t = 0; t < T; t++)
            {
                if (targets[t] == TextDataset.IgnoreIndex) continue;
                var z = logits.Slice(t * vocab, vocab);
                CheckFinite(z, w, t);
                double lse = LogSumExp(z);
                crossEntropy += lse - z[targets[t]];
                scored++;
                if (reference is null) continue;
                var zr = referenceLogits.AsSpan(t * vocab, vocab);
                double lser = LogSumExp(zr);
                referenceCrossEntropy += lser - zr[targets[t]];
                // KL(p_ref ‖ p) = Σ p_ref · (log p_ref − log p), with log p = z − lse.
                double sum = 0;
                int top = 0, topRef = 0;
                for (int i = 0; i < vocab; i++)
                {
                    double logRef = zr[i] - lser;
                    sum += Math.Exp(logRef) * (logRef - (z[i] - lse));
                    double d = z[i] - (double)zr[i];
                    errorSquares += d * d;
                    referenceSquares += (double)zr[i] * zr[i];
                    if (z[i] > z[top]) top = i;
                    if (zr[i] > zr[topRef]) topRef = i;
                }
                kl += sum;
                if (top == topRef) sameTop++;
            }
        }
        if (scored == 0) throw new ArgumentException("The text has no target to score.");
        return reference is null
            ? new Result(scored, crossEntropy / scored, null, null, null, null)
            : new Result(scored, crossEntropy / scored, referenceCrossEntropy / scored, kl / scored, (double)sameTop / scored, errorSquares / referenceSquares);
    }

    /// <summary>log Σ exp(z_i), shifted by the maximum, in float64.</summary>
    private static double LogSumExp(ReadOnlySpan<float> z)
    {
        float max = System.Numerics.Tensors.TensorPrimitives.Max(z);
        double sum = 0;
        foreach (float v in z) sum += Math.Exp(v - (double)max);
        return max + Math.Log(sum);
    }

    private static void CheckFinite(ReadOnlySpan<float> z, int window, int position)
    {
        int bad = z.IndexOfAnyExceptInRange(float.MinValue, float.MaxValue);
        if (bad >= 0) throw new Sampling.NonFiniteLogitsException($"window {window}, position {position}, id {bad}: {z[bad]}");
    }
}
