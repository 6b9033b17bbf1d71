using System.CommandLine;
using System.Globalization;
using System.Text;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen logits "prompt" --model DIR [--adapter A] --out FILE.npy`: one forward pass over the prompt and the logits
/// of every position written as a NumPy array, float32 [tokens, vocabulary] — what `model(ids).logits[0]` gives in
/// transformers. For checking one model against another engine or another form of itself (a base with its LoRA adapter
/// against the merged export) with any reader of .npy files; the last position's five most likely ids are printed.
/// </summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var prompt = new Argument<string[]>("prompt") { Description = "The prompt (several words are joined with spaces).", Arity = ArgumentArity.OneOrMore };
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face snapshot directory, training checkpoint or .gguf file.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "A LoRA adapter folder (PEFT format) merged into the weights (F32) before the pass." };
        var bf16 = new Option<bool>("--bf16") { Description = "Keep matrices in BF16 (default when the checkpoint is BF16)." };
        var f32 = new Option<bool>("--f32") { Description = "Widen every weight to float32." };
        var threads = new Option<int?>("--threads") { Description = "Threads for the kernels (default: all cores)." }.AtLeast(1);
        var output = new Option<string>("--out", "-o") { Description = "The .npy file to write (replaced atomically if it exists).", Required = true };
        var command = new Command("logits", "Write the logits of every prompt position as a float32 .npy array [tokens, vocabulary].") { prompt, adapter, bf16, f32, threads, output, model };
        command.SetAction(parse =>
        {
            if (parse.GetValue(bf16) && parse.GetValue(f32))
            {
                Console.Error.WriteLine("logits: error: --bf16 and --f32 exclude each other.");
                return CommandLine.UsageError;
            }
            var settings = new ModelSettings
            {
                ModelDir = parse.GetValue(model)!,
                Adapter = parse.GetValue(adapter),
                Threads = parse.GetValue(threads),
                Format = parse.GetValue(bf16) ? WeightFormat.BF16 : parse.GetValue(f32) ? WeightFormat.F32 : null,
            };
            return Run(string.Join(' ', parse.GetValue(prompt) ?? []), settings, parse.GetValue(output)!, Console.Out, Console.Error);
        });
        return command;
    }

    public static int Run(string prompt, ModelSettings s, string output, TextWriter stdout, TextWriter error)
    {
        if (Directory.Exists(output))
        {
            error.WriteLine($"logits: error: --out '{output}' is a folder; give a file name such as logits.npy.");
            return CommandLine.UsageError;
        }
        if (ModelLoading.LoadAny("logits", s, error) is not var (loaded, tokenizer)) return 1;
        using (loaded)
        {
            try
            {
                int[] ids = tokenizer.Encode(prompt);
                if (ids.Length == 0) throw new ArgumentException("The prompt encodes to no tokens: give some text.");
                if (ids.Length > loaded.Config.PositionLimit)
                    throw new ArgumentException($"The prompt has {ids.Length} tokens, more than the model's {loaded.Config.PositionLimit} positions.");
                int vocab = loaded.Config.Vocab;
                loaded.Model.Reserve(1, ids.Length, training: false);
                loaded.Model.Forward(ids, [], 1, ids.Length);
                var logits = loaded.Model.Logits[..(ids.Length * vocab)];
                int bad = logits.IndexOfAnyExceptInRange(float.MinValue, float.MaxValue);   // NaN and ±∞ fall outside
                if (bad >= 0) throw new Sampling.NonFiniteLogitsException($"position {bad / vocab}, id {bad % vocab}: {logits[bad]}");
                int rows = ids.Length;
                AtomicFile.Write(output, stream => NpyFile.WriteFloat32(stream, loaded.Model.Logits[..(rows * vocab)], rows, vocab));

                stdout.WriteLine($"{ids.Length} positions × {vocab:N0} logits written to {Path.GetFullPath(output)}");
                float[] last = logits[((ids.Length - 1) * vocab)..].ToArray();
                var top = Enumerable.Range(0, vocab).OrderByDescending(i => last[i]).ThenBy(i => i).Take(5);
                stdout.WriteLine("last position, top 5: " + string.Join(", ", top.Select(i =>
                    string.Create(CultureInfo.InvariantCulture, $"{i} {Quote(tokenizer.Decode([i]))} {last[i]:0.####}"))));
                return 0;
            }
            catch (Exception e) when (ModelLoading.IsUserError(e))
            {
                ModelLoading.Fail("logits", e, error, loaded);
                return 1;
            }
        }
    }

    private static string Quote(string text)
    {
        var b = new StringBuilder("\"");
        foreach (char c in text) b.Append(c switch { '\n' => "\\n", '\t' => "\\t", '"' => "\\\"", _ => c.ToString() });
        return b.Append('"').ToString();
    }
}
