using Qwen3Gen.Checkpoints;
using Qwen3Gen.Inference;
using Qwen3Gen.Sample.Commands;
using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Runs;

/// <summary>
/// What a run starts from: the definition, its tokenizer, the files its checkpoints carry, and the weights to load
/// (null: random, Hugging Face's init). With --init-from a folder (a Hugging Face snapshot or a training checkpoint) the
/// folder's config.json picks the definition and its own tokenizer files are used (nanoGPT's init_from); with
/// --init-from a .safetensors file the weights come from the file and --model / --tokenizer say the rest.
/// Only the weights are taken: the optimizer starts afresh (--resume continues a run with its optimizer).
/// </summary>
internal sealed record StartingPoint(ModelDefinition Definition, ITokenizer Tokenizer, string TokenizerName, ModelFiles Files, string? Weights)
{
    public static StartingPoint For(TrainSettings settings)
    {
        if (settings.InitFrom is null)
        {
            var definition = Catalog.Find(settings.Model ?? TrainSettings.DefaultModel);
            string name = settings.Tokenizer ?? "byte";
            return new(definition, Corpus.Tokenizer(name), name, name == "qwen3" ? ModelFiles.BundledQwen3 : ModelFiles.ByteLevel, null);
        }
        string path = Path.GetFullPath(settings.InitFrom);
        if (File.Exists(path))
        {
            if (!path.EndsWith(".safetensors", StringComparison.OrdinalIgnoreCase) && !path.EndsWith(".index.json", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--init-from '{path}' is a file but not .safetensors or .index.json: give a weights file or a model folder.");
            var definition = Catalog.Find(settings.Model ?? TrainSettings.DefaultModel);
            string name = settings.Tokenizer ?? "byte";
            return new(definition, Corpus.Tokenizer(name), name, name == "qwen3" ? ModelFiles.BundledQwen3 : ModelFiles.ByteLevel, path);
        }
        if (!Directory.Exists(path)) throw new FileNotFoundException($"--init-from '{path}' does not exist.", path);

        ModelLoading.RegisterDefinitions();
        var config = ModelDirectory.ReadConfig(path);
        var found = ModelDirectory.FindDefinition(config, path);
        if (settings.Model is not null && !string.Equals(settings.Model, found.Name, StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"--model {settings.Model} but --init-from '{path}' holds a {found.Name}; leave out --model (the folder's config.json decides).");
        bool byteLevel = TokenizerFolder.IsByteLevel(path);
        if (!byteLevel) ModelDirectory.Tokenizer(path).Require();
        string tokenizerName = byteLevel ? "byte" : "qwen3";
        if (settings.Tokenizer is not null && settings.Tokenizer != tokenizerName)
            throw new ArgumentException($"--tokenizer {settings.Tokenizer} but '{path}' carries the {tokenizerName} tokenizer; leave out --tokenizer (a model trains with its own).");
        return new(found, TokenizerFolder.Load(path), tokenizerName, ModelFiles.CopiedFrom(path, config), path);
    }

    /// <summary>Loads <see cref="Weights"/> into <paramref name="model"/> (F32: BF16 and F16 values are widened exactly).</summary>
    public LoadReport LoadInto(IQwen3Model model) =>
        CheckpointLoader.Load(model, Weights!);
}
