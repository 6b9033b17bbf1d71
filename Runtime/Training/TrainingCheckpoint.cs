using System.Globalization;
using System.Text.Json;
using Qwen3Gen.Checkpoints;
using Qwen3Gen.Optim;

namespace Qwen3Gen.Training;

/// <summary>
/// A training checkpoint is a folder `checkpoint/` inside the run's output folder:
///   model.safetensors    the weights under Hugging Face names (F32): loadable by any safetensors reader and by ModelDirectory
///   config.json          the Hugging Face config of the definition
///   trainer.safetensors  AdamW's m and v (flat, the model's layout), with the step, the sampler state and the options as metadata
///   tokenizer files, generation_config.json  when the save is given <see cref="ModelFiles"/>: the folder is then a model
///                        that generate / chat / export load like a Hugging Face snapshot
/// A save writes a fresh temporary folder and then swaps it in (old → checkpoint.old, new → checkpoint, delete old):
/// an interrupted save leaves either the previous checkpoint or the new one complete, never a mix.
/// </summary>
public static unsafe class TrainingCheckpoint
{
    public const string FolderName = "checkpoint";
    private const string Format = "qwen3gen-trainer-1";

    public static void Save(string outputDirectory, IQwen3Model model, AdamW optimizer, IBatchSampler sampler, TrainingOptions options,
                            ModelFiles? files = null)
    {
        Directory.CreateDirectory(outputDirectory);
        string final = Path.Combine(outputDirectory, FolderName), old = final + ".old";
        string temp = Path.Combine(outputDirectory, $".{FolderName}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(temp);
        try
        {
            string step = optimizer.StepCount.ToString(CultureInfo.InvariantCulture);
            CheckpointSaver.Save(model.Tensors, model.Weights, Path.Combine(temp, "model.safetensors"),
                new Dictionary<string, string> { ["format"] = "pt", ["qwen3gen.step"] = step, ["qwen3gen.model"] = model.Name });
            File.WriteAllText(Path.Combine(temp, "config.json"), model.Config.ToHuggingFaceJson());
            files?.WriteTo(temp);

            var state = sampler.State;
            var writer = new SafeTensorsWriter(new Dictionary<string, string>
            {
                ["format"] = Format,
                ["step"] = step,
                ["model"] = model.Name,
                ["sampler_state"] = string.Join(",", state.S0, state.S1, state.S2, state.S3),
                ["options"] = JsonSerializer.Serialize(options),
            });
            AddFlat(writer, "optimizer.m", optimizer.M);
            AddFlat(writer, "optimizer.v", optimizer.V);
            writer.Save(Path.Combine(temp, "trainer.safetensors"));

            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
            if (Directory.Exists(final)) Directory.Move(final, old);
            Directory.Move(temp, final);
            if (Directory.Exists(old)) Directory.Delete(old, recursive: true);
        }
        catch
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The checkpoint folder to resume from: checkpoint/, or checkpoint.old/ if a save was interrupted mid-swap; null if none.</summary>
    public static string? Find(string outputDirectory)
    {
        string final = Path.Combine(outputDirectory, FolderName), old = final + ".old";
        if (File.Exists(Path.Combine(final, "trainer.safetensors"))) return final;
        if (File.Exists(Path.Combine(old, "trainer.safetensors"))) return old;
        return null;
    }

    public static void Load(string outputDirectory, IQwen3Model model, AdamW optimizer, IBatchSampler sampler, TrainingOptions options)
    {
        string folder = Find(outputDirectory) ?? throw new FileNotFoundException($"No training checkpoint in '{outputDirectory}' (expected {FolderName}/trainer.safetensors).");
        string configPath = Path.Combine(folder, "config.json");
        var config = ModelConfig.FromHuggingFaceJson(File.ReadAllText(configPath), configPath);
        var differences = model.Config.Differences(config);
        if (differences.Count > 0)
            throw new InvalidDataException($"The checkpoint in '{folder}' is for other hyper-parameters than {model.Name} (definition vs checkpoint): {string.Join("; ", differences)}.");

        using var trainer = SafeTensorsFile.Open(Path.Combine(folder, "trainer.safetensors"));
        string Meta(string key) => trainer.Metadata.TryGetValue(key, out var value) ? value
            : throw new InvalidDataException($"{trainer.Path}: metadata '{key}' is missing.");
        if (Meta("format") != Format) throw new InvalidDataException($"{trainer.Path}: format '{Meta("format")}' is not {Format}.");
        var saved = JsonSerializer.Deserialize<TrainingOptions>(Meta("options"))!;
        var optionDifferences = OptionDifferences(saved, options);
        if (optionDifferences.Count > 0)
            throw new InvalidDataException($"The checkpoint was trained with other options (checkpoint vs now): {string.Join("; ", optionDifferences)}. Resume with the same options (only --steps may change).");
        long step = long.Parse(Meta("step"), CultureInfo.InvariantCulture);

        using (var weights = SafeTensorsFile.Open(Path.Combine(folder, "model.safetensors")))
            if (!weights.Metadata.TryGetValue("qwen3gen.step", out var weightStep) || weightStep != Meta("step"))
                throw new InvalidDataException($"{folder}: model.safetensors is from step {weightStep ?? "?"} but trainer.safetensors from step {step}.");
        CheckpointLoader.Load(model.Tensors, model.Config.TieEmbeddings, model.Weights, Path.Combine(folder, "model.safetensors"));
        ReadFlat(trainer, "optimizer.m", optimizer.M);
        ReadFlat(trainer, "optimizer.v", optimizer.V);
        optimizer.StepCount = step;
        var parts = Meta("sampler_state").Split(',').Select(x => ulong.Parse(x, CultureInfo.InvariantCulture)).ToArray();
        if (parts.Length != 4) throw new InvalidDataException($"{trainer.Path}: sampler_state must have 4 numbers.");
        sampler.State = new Sampling.RngState(parts[0], parts[1], parts[2], parts[3]);
    }

    private static List<string> OptionDifferences(TrainingOptions saved, TrainingOptions now)
    {
        var result = new List<string>();
        foreach (var p in typeof(TrainingOptions).GetProperties())
        {
            if (p.Name == nameof(TrainingOptions.Steps)) continue;
            object? a = p.GetValue(saved), b = p.GetValue(now);
            if (!Equals(a, b)) result.Add($"{p.Name}: {a} vs {b}");
        }
        return result;
    }

    private static void AddFlat(SafeTensorsWriter writer, string name, NativeBuffer<float> buffer)
    {
        writer.Add(name, SafeTensorsDType.F32, [buffer.Length], stream =>
        {
            const int chunk = 1 << 20;
            for (long start = 0; start < buffer.Length; start += chunk)
            {
                int n = (int)Math.Min(chunk, buffer.Length - start);
                stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(buffer.Slice(start, n)));
            }
        });
    }

    private static void ReadFlat(SafeTensorsFile file, string name, NativeBuffer<float> buffer)
    {
        if (!file.Tensors.TryGetValue(name, out var info))
            throw new InvalidDataException($"{file.Path}: tensor '{name}' is missing.");
        if (info.DType != SafeTensorsDType.F32 || info.ElementCount != buffer.Length)
            throw new InvalidDataException($"{file.Path}: '{name}' is {info.DType} with {info.ElementCount} elements; expected F32 with {buffer.Length}.");
        const int chunk = 1 << 20;
        for (long start = 0; start < buffer.Length; start += chunk)
            file.ReadF32(name, start, buffer.Slice(start, (int)Math.Min(chunk, buffer.Length - start)));
    }
}
