using CnnCluster.Engine.Models;

namespace CnnCluster.Coordinator.Local;

/// <summary>Resolves --model: a preset name, or a path to a JSON spec.</summary>
public static class ModelCatalog
{
    public static ModelSpec Resolve(string model)
    {
        if (Presets.Find(model) is ModelSpec preset)
        {
            return preset;
        }

        if (model.EndsWith(".json", StringComparison.OrdinalIgnoreCase) || File.Exists(model))
        {
            if (!File.Exists(model))
            {
                throw new ModelSpecException($"model spec file '{model}' does not exist");
            }

            return ModelSpecJson.Load(model);
        }

        throw new ModelSpecException($"unknown model '{model}'; use one of {string.Join(", ", Presets.Names)} or a path to a JSON spec (FILE.json)");
    }
}
