using System.CommandLine;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// `qwen3gen quantize --model DIR|FILE --type q8_0|q4_0|q4_k_m|q5_k_m|q6_k|f32 --out FILE.gguf`: a Hugging Face
/// snapshot, a trainer's model folder or a GGUF file written as a GGUF file llama.cpp reads, matrices quantised with
/// GGML's reference quantisers and llama-quantize's per-tensor recipe (<see cref="GgufExport"/>). `q4_k` / `q5_k` are
/// llama-quantize's aliases of `q4_k_m` / `q5_k_m`.
/// </summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model", "-m") { Description = "Hugging Face snapshot directory, trainer model folder, or .gguf file.", Required = true };
        var type = new Option<string>("--type") { Description = "q8_0, q4_0, q4_k_m (alias q4_k), q5_k_m (alias q5_k), q6_k or f32.", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The .gguf file to write.", Required = true };
        var command = new Command("quantize", "Write a model as a GGUF file (Q8_0, Q4_0, Q4_K_M, Q5_K_M, Q6_K or F32) that llama.cpp and Qwen3Gen read.") { model, type, output };
        command.SetAction(parse => Run(parse.GetValue(model)!, parse.GetValue(type)!, parse.GetValue(output)!, Console.Out, Console.Error));
        return command;
    }

    public static int Run(string modelPath, string type, string outPath, TextWriter stdout, TextWriter err)
    {
        GgufRecipe? recipe = type.ToLowerInvariant() switch
        {
            "q8_0" => GgufRecipe.Q8_0,
            "q4_0" => GgufRecipe.Q4_0,
            "q4_k_m" or "q4_k" => GgufRecipe.Q4_K_M,
            "q5_k_m" or "q5_k" => GgufRecipe.Q5_K_M,
            "q6_k" => GgufRecipe.Q6_K,
            "f32" => GgufRecipe.F32,
            _ => null,
        };
        if (recipe is null)
        {
            err.WriteLine($"quantize: error: --type {type} is not one of q8_0, q4_0, q4_k_m, q4_k, q5_k_m, q5_k, q6_k, f32.");
            return 2;
        }
        if (!GgufFile.IsGgufPath(outPath))
        {
            err.WriteLine($"quantize: error: --out {outPath} must end in .gguf.");
            return 2;
        }
        try
        {
            ModelLoading.RegisterDefinitions();
            using var loaded = ModelDirectory.Load(modelPath, WeightFormat.F32);
            bool byteLevel = loaded.Gguf is null && Tokenization.TokenizerFolder.IsByteLevel(loaded.Directory);
            string? tokenizerDir = loaded.Gguf is null && !byteLevel && loaded.TokenizerFiles.Complete ? loaded.Directory : null;
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(modelPath));
            GgufExport.Write(loaded.Model, recipe.Value, outPath, tokenizerDir, name, loaded.Gguf?.Metadata, byteLevel);
            stdout.WriteLine($"Wrote {Path.GetFullPath(outPath)} ({new FileInfo(outPath).Length / 1e6:0.0} MB, {type.ToUpperInvariant()}) from {loaded.Definition.Name}.");
            return 0;
        }
        catch (Exception e) when (ModelLoading.IsUserError(e))
        {
            ModelLoading.Fail("quantize", e, err);
            return 2;
        }
    }
}
