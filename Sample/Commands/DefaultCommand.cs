using System.CommandLine;
using Qwen3Gen.Sample.Runs;
using Qwen3Gen.Training;

namespace Qwen3Gen.Sample.Commands;

/// <summary>
/// What `qwen3gen` does with no command, the README's main job: train Qwen3Shakespeare (byte-level, 4 layers, hidden 128)
/// on the bundled tinyshakespeare for a few minutes on all cores: nanoGPT's recipe run for <see cref="Steps"/>
/// steps, then evaluate on the whole validation split and print 500 characters of generated text.
/// </summary>
internal static class DefaultCommand
{
    /// <summary>Steps of the default run: about 3 minutes on 2 idle cores at 25-33 ms/step (docs/training.md has the measurement).</summary>
    public const int Steps = 6000;

    public static int Run(ParseResult parse)
    {
        var settings = new TrainSettings
        {
            Model = "Qwen3Shakespeare",
            Training = new TrainingOptions { Steps = Steps },
            EvalInterval = 0,
            CheckpointInterval = 0,
            LogInterval = 50,
            Out = Path.Combine("runs", "default"),
            Overwrite = true,
            SampleChars = 500,
        };
        Console.WriteLine($"Training Qwen3Shakespeare on tinyshakespeare for {Steps} steps (batch 12 × 64 bytes) on {settings.Threads} thread(s), " +
                          "then sampling 500 characters. `qwen3gen train` runs nanoGPT's 2000-step recipe; `qwen3gen --help` lists the commands.");
        return TrainCommand.Run(settings, $"qwen3gen train --steps {Steps} --eval-interval 0 --out {settings.Out} --resume");
    }
}
