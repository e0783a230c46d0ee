<?php
// A shop's PHP backend calling kopilka as the public KupiKupiPayApi class does: the platform id
// under `platformUid`, the token over every field plus `secretKey` sorted with ksort() and
// joined in PHP's own string forms (a float prints as PHP prints it), the body json_encode()d,
// POSTed with curl. Written for kopilka's tests from the class's documented behaviour.
//
// php kupikupi_shop.php BASE UID KEY METHOD [ARG…]   prints the decoded answer as JSON
//   balance PHONE | init PHONE ORDER AMOUNT | init-float PHONE ORDER | checkout ORDER AMOUNT
//   confirmation PHONE CODE | receipt PHONE AMOUNT FN FD FP PAY_DATE TYPE

function kk_token(array $args, string $key): string
{
    $args['secretKey'] = $key;
    ksort($args);
    $signed = '';
    foreach ($args as $value) {
        if (!is_array($value)) {
            $signed .= $value;
        }
    }
    return hash('sha256', $signed);
}

// Shops pass their order ids as they have them; the seed's example passes an int.
function kk_order(string $id)
{
    return ctype_digit($id) ? (int) $id : $id;
}

function kk_call(string $base, string $uid, string $key, string $method, array $args)
{
    $args['platformUid'] = $uid;
    $args['token'] = kk_token($args, $key);
    $body = json_encode($args);
    $curl = curl_init($base . '/api/v1/transfer/' . $method);
    curl_setopt($curl, CURLOPT_POST, 1);
    curl_setopt($curl, CURLOPT_POSTFIELDS, $body);
    curl_setopt($curl, CURLOPT_HTTPHEADER, [
        'Content-Type: application/json',
        'X-Requested-With: XMLHttpRequest',
        'Content-Length: ' . strlen($body),
    ]);
    curl_setopt($curl, CURLOPT_RETURNTRANSFER, 1);
    $answer = curl_exec($curl);
    curl_close($curl);
    return json_decode($answer, true);
}

[$_, $base, $uid, $key, $method] = array_slice($argv, 0, 5);
$a = array_slice($argv, 5);
switch ($method) {
    case 'balance':
        $answer = kk_call($base, $uid, $key, 'balance', ['phone' => (int) $a[0]]);
        break;
    case 'init':
        $answer = kk_call($base, $uid, $key, 'init', ['phone' => (int) $a[0], 'orderId' => kk_order($a[1]), 'amount' => (int) $a[2]]);
        break;
    case 'init-float':
        // A price in roubles times 100, as shops write it: 1998.9999999999998.
        $answer = kk_call($base, $uid, $key, 'init', ['phone' => (int) $a[0], 'orderId' => $a[1], 'amount' => 19.99 * 100]);
        break;
    case 'checkout':
        $answer = kk_call($base, $uid, $key, 'checkout', ['orderId' => kk_order($a[0]), 'amount' => (int) $a[1]]);
        break;
    case 'confirmation':
        // The class takes both as int: a code's leading zeros are lost on the way.
        $answer = kk_call($base, $uid, $key, 'confirmation', ['phone' => (int) $a[0], 'code' => (int) $a[1]]);
        break;
    case 'receipt':
        $answer = kk_call($base, $uid, $key, 'receipt', [
            'phone' => (int) $a[0], 'amount' => (int) $a[1], 'fn' => $a[2], 'fd' => $a[3],
            'fp' => $a[4], 'pay_date' => $a[5], 'receipt_type' => (int) $a[6],
        ]);
        break;
    default:
        fwrite(STDERR, "unknown method $method\n");
        exit(2);
}
echo json_encode($answer, JSON_PRESERVE_ZERO_FRACTION), "\n";
