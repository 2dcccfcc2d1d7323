"""Baidu Qianfan: jobs are ``POST /v2/finetuning?Action=CreateFineTuningJob`` ``{name, model, trainMode}`` then
``CreateFineTuningTask`` on a dataset, read with ``DescribeFineTuningTask``
(https://cloud.baidu.com/doc/WENXINWORKSHOP/s/Mlt73m1g4, /klt73okdd), signed with IAM AK/SK (the SDK's
``QIANFAN_ACCESS_KEY``/``QIANFAN_SECRET_KEY``), and train on a Qianfan dataset stored in BOS."""

from __future__ import annotations

from finetune.push.base import FineTuneApi

API = FineTuneApi(
    name="qianfan",
    vendors=("ernie",),
    shape="unsupported",
    base_url="https://qianfan.baidubce.com/v2",
    source="https://cloud.baidu.com/doc/WENXINWORKSHOP/s/Mlt73m1g4",
    unsupported=(
        "Qianfan's fine-tuning API is signed with IAM AK/SK and trains on a dataset in BOS; the gateway's config "
        "holds an inference key (bce-v3) only. Import the file (finetune convert --to qianfan) as a Qianfan "
        "dataset in the console, then create the job there (or with the qianfan SDK: CreateFineTuningJob)."
    ),
)
